"""Browser fixtures: Debian's headless Chromium driven by Playwright, a fake microphone.

Nothing is mocked: the page is served by a real gateway (``start_gateway``), Chromium
captures a WAV file as its microphone (``--use-file-for-fake-audio-capture``, looped),
sends it over WebRTC, and the page renders what comes back on the data channel.
Playwright never downloads a browser here: ``executable_path`` points at the system one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.support import HEADLESS_FLAGS, Browser, LaunchBrowser, MakeSpeech
from tests.support.speech import SpeechSample, espeak_wav_48k, require_espeak

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

BASE_FLAGS = [
    *HEADLESS_FLAGS,
    "--use-fake-device-for-media-stream",
    # Real host addresses instead of *.local mDNS names: aioice would spend ~1 s per
    # candidate failing to resolve them. The gateway ignores .local candidates anyway.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def _playwright() -> Any:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)")
    return async_playwright


@pytest.fixture(scope="session")
def speech_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="e2e-speech-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)




@pytest.fixture(scope="session")
def make_speech(speech_dir: Path) -> MakeSpeech:
    """Synthesise sentences into one 48 kHz mono WAV for Chrome's fake microphone.

    ``lead`` seconds of silence come first; each sentence is followed by ``gap`` seconds of
    silence so the recognizer ends a phrase after it (Vosk endpoints after ~0.5 s of
    silence) and the loop Chrome plays does not glue the last sentence onto the first;
    ``tail`` adds silence at the end of the loop (two callers who speak in turn).
    """
    made: dict[tuple[object, ...], Path] = {}

    def make(*sentences: str, gap: float = 1.2, lead: float = 1.0, tail: float = 0.0,
             voice: str = "en-us") -> Path:
        require_espeak()
        key = (sentences, gap, lead, tail, voice)
        if key in made:
            return made[key]
        parts: list[np.ndarray] = [np.zeros(int(lead * 48000), dtype=np.int16)]
        for i, text in enumerate(sentences):
            wav = espeak_wav_48k(text, speech_dir / f"part-{len(made)}-{i}.wav", voice=voice)
            parts.append(SpeechSample.read(wav).samples)
            parts.append(np.zeros(int(gap * 48000), dtype=np.int16))
        parts.append(np.zeros(int(tail * 48000), dtype=np.int16))
        out = speech_dir / f"speech-{len(made)}.wav"
        SpeechSample(np.concatenate(parts), 48000).write(out)
        made[key] = out
        return out

    return make




@pytest.fixture
async def launch_browser() -> AsyncIterator[LaunchBrowser]:
    """Start Chromium instances; all are closed after the test.

    ``launch(wav)`` feeds ``wav`` as the microphone and auto-accepts the permission
    prompt; ``launch(wav, mic="deny")`` leaves the prompt to Chrome, which denies it
    (``--deny-permission-prompts``), so getUserMedia fails with NotAllowedError.
    """
    async_playwright = _playwright()
    manager = async_playwright()
    playwright = await manager.start()
    contexts: list[Any] = []
    profiles: list[Path] = []

    async def launch(wav: Path | None = None, *, mic: str = "allow",
                     extra_args: list[str] | None = None) -> Browser:
        args = list(BASE_FLAGS)
        if mic == "allow":
            args.append("--use-fake-ui-for-media-stream")
        else:
            args.append("--deny-permission-prompts")
        if wav is not None:
            args.append(f"--use-file-for-fake-audio-capture={wav}")
        args += extra_args or []
        profile = Path(tempfile.mkdtemp(prefix="e2e-chromium-"))
        profiles.append(profile)
        context = await playwright.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=CHROMIUM,
            # False keeps Playwright from adding its own --headless and --mute-audio;
            # --headless=new above makes it headless.
            headless=False,
            args=args,
            viewport={"width": 1280, "height": 900},
            locale="en-US",  # the page formats due dates with the browser's locale
        )
        contexts.append(context)
        page = context.pages[0] if context.pages else await context.new_page()
        return Browser(context, page, profile)

    yield launch
    for context in contexts:
        try:
            await context.close()
        except Exception:  # a crashed browser must not hide the test's own failure
            pass
    await manager.__aexit__(None, None, None)
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)
