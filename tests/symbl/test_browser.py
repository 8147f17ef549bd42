"""Symbl's browser clients in a real headless Chromium against a real gateway and Vosk.

Chromium's fake microphone plays one speech WAV (espeak-ng sentences that raise a question
and action items, around three LibriVox recordings of a human reader); the pages are
served from their own origin (a second loopback server, allowed with ``allowed_origins``),
exactly as a customer's page would be:

* ``pages/tutorial.html``: Symbl's published snippet, verbatim but for the host —
  ScriptProcessor, Symbl's Float32 → Int16 loop (sample 0 never written, peaks below -1
  wrapped), the old ``/v1/realtime/insights/{btoa(email)}`` path with its ``=`` padding, and
  a declared ``sampleRateHertz: 44100`` while the AudioContext runs at 48000;
* ``examples/symbl/index.html``: the migration guide's page (token from
  ``/oauth2/token:generate`` cross-origin, AudioWorklet at the real rate, or real Chrome
  ``MediaRecorder`` WebM/Opus chunks).

Each gets partials, finals and insights, in Symbl's order. Accuracy bound, against Vosk
straight on the same WAV (``direct_transcript``): the browser path adds Chrome's capture and
WebAudio resampling, Symbl's conversion (a zeroed sample every 1024, 16-bit truncation), a
declared rate 8.8 % off (audio slowed and pitched down: measured offline on this WAV as
+/-2 errors), Opus for MediaRecorder, and the first and last words of a live capture whose
start and stop are not sample-exact. Each of these is worth a word or two on 72 words, so
the bound is straight + 6 errors (+8 %); a broken path (wrong rate, lost frames, garbled
samples) costs tens of words.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import vosk
from aiohttp import web

from gateway.auth import AuthConfig
from tests.conftest import StartGateway
from tests.e2e.conftest import launch_browser  # noqa: F401 (the fixture, shared)
from tests.e2e.support import Browser, LaunchBrowser
from tests.support import symbl_client as client
from tests.support.baseline import direct_transcript
from tests.support.speech import (
    SpeechSample,
    espeak_wav_48k,
    require_espeak,
    require_pocketsphinx_corpus,
)
from tests.support.wer import align

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
REQUEST = "Can you send me the updated contract before the end of the week?"
QUESTION = "What time is the meeting tomorrow?"
ACTION = "We should write down the action items and share them with everyone after the call."
TAIL = 3.0
EXTRA_ERRORS = 6


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    """The microphone's WAV (48 kHz), its reference transcript and its duration."""
    require_espeak()
    librivox = [u for u in require_pocketsphinx_corpus() if u.set == "librivox"][:3]
    folder = tmp_path_factory.mktemp("symbl-browser")
    rate = 48000
    parts = [np.zeros(rate, np.int16),
             SpeechSample.read(espeak_wav_48k(REQUEST, folder / "r.wav")).samples,
             np.zeros(int(1.2 * rate), np.int16)]
    for utt in librivox:
        parts += [SpeechSample.read(utt.path).to(rate).samples, np.zeros(int(0.8 * rate),
                                                                          np.int16)]
    parts += [np.zeros(int(0.4 * rate), np.int16),
              SpeechSample.read(espeak_wav_48k(QUESTION, folder / "q.wav")).samples,
              np.zeros(int(1.2 * rate), np.int16),
              SpeechSample.read(espeak_wav_48k(ACTION, folder / "a.wav")).samples,
              np.zeros(int(TAIL * rate), np.int16)]
    sample = SpeechSample(np.concatenate(parts), rate)
    wav = sample.write(folder / "speech.wav")
    reference = " ".join([REQUEST, *(u.transcript for u in librivox), QUESTION, ACTION])
    return wav, reference, sample.duration


@pytest.fixture(scope="module")
def straight_errors(speech: tuple[Path, str, float], model_path: Path) -> int:
    vosk.SetLogLevel(-1)
    wav, reference, _ = speech
    return align(reference, direct_transcript(vosk.Model(str(model_path)), wav)).errors


@pytest.fixture
async def pages() -> AsyncIterator[str]:
    """The pages' own origin: a static server on another loopback port."""
    app = web.Application()
    app.router.add_static("/tests/", ROOT / "tests/symbl/pages")
    app.router.add_static("/examples/", ROOT / "examples/symbl")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def record_frames(browser: Browser) -> list[dict[str, Any]]:
    """Every text frame the page's WebSocket receives, parsed (Symbl snippets JSON.parse
    every frame: a frame that is not JSON fails the test here too)."""
    frames: list[dict[str, Any]] = []

    def on_socket(ws: Any) -> None:
        ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    browser.page.on("websocket", on_socket)
    return frames


def check_session(frames: list[dict[str, Any]], reference: str, straight: int) -> str:
    names = client.kinds(frames)
    assert names[:3] == ["started_listening", "conversation_created", "recognition_started"]
    assert names[-2:] == ["conversation_completed", "recognition_stopped"]
    partials = [f for f in frames if client.kind_of(f) == "recognition_result"
                and not f["message"]["isFinal"]]
    assert len(partials) > 10 and len(client.finals(frames)) >= 4
    transcript = " ".join(m["payload"]["content"] for f in frames
                          if f["type"] == "message_response" for m in f["messages"])
    errors = align(reference, transcript).errors
    insights = [i for f in frames if f["type"] == "insight_response" for i in f["insights"]]
    print(f"\nbrowser: {errors} errors on {len(reference.split())} words "
          f"(Vosk straight on the WAV: {straight})\n{transcript}\n"
          f"insights: {[(i['type'], i['text']) for i in insights]}")
    assert errors <= straight + EXTRA_ERRORS
    assert {"question", "action_item"} <= {i["type"] for i in insights}
    assert all(i["text"] for i in insights)
    return transcript


async def test_symbl_tutorial_snippet_with_a_wrong_declared_rate(
        start_gateway: StartGateway, launch_browser: LaunchBrowser,  # noqa: F811
        pages: str, speech: tuple[Path, str, float], straight_errors: int) -> None:
    wav, reference, duration = speech
    gw = await start_gateway(auth=AuthConfig(allowed_origins=(pages,)))
    async with aiohttp.ClientSession() as http:
        token = await client.fetch_token(http, gw.url)
    browser = await launch_browser(wav, extra_args=["--autoplay-policy=no-user-gesture-required"])
    frames = record_frames(browser)
    page = browser.page
    host = gw.url.removeprefix("http://")
    stop_ms = int((duration - TAIL / 2) * 1000)
    await page.goto(f"{pages}/tests/tutorial.html?host={host}&token={token}"
                    f"&stopAfterMs={stop_ms}&contextRate=48000")
    await page.click("#start")
    await page.wait_for_function("window.state === 'closed'", timeout=(duration + 90) * 1000)
    assert await page.evaluate("window.contextRate") == 48000  # declared 44100
    assert await page.evaluate("window.closeCode") == 1000
    check_session(frames, reference, straight_errors)
    assert await page.evaluate("window.received.length") == len(frames)


@pytest.mark.parametrize("encoding", ["LINEAR16", "audio/webm;codecs=opus"])
async def test_migration_guide_page(
        start_gateway: StartGateway, launch_browser: LaunchBrowser,  # noqa: F811
        pages: str, speech: tuple[Path, str, float], straight_errors: int,
        encoding: str) -> None:
    wav, reference, duration = speech
    gw = await start_gateway(auth=AuthConfig(allowed_origins=(pages,)))
    browser = await launch_browser(wav, extra_args=["--autoplay-policy=no-user-gesture-required"])
    frames = record_frames(browser)
    page = browser.page
    await page.goto(f"{pages}/examples/index.html")
    await page.fill("#host", gw.url.removeprefix("http://"))
    await page.select_option("#encoding", encoding)
    started = time.monotonic()
    await page.click("#start")
    await page.wait_for_function("document.querySelector('#stop').disabled === false",
                                 timeout=30_000)
    remaining = duration - TAIL / 2 - (time.monotonic() - started)
    await page.wait_for_timeout(max(0.0, remaining) * 1000)
    await page.click("#stop")
    await page.wait_for_function("document.querySelector('#log').textContent.includes('closed')",
                                 timeout=90_000)
    transcript = check_session(frames, reference, straight_errors)
    shown = await page.locator("#transcript").inner_text()
    assert " ".join(shown.split()) == " ".join(transcript.split())
    assert "closed 1000" in await page.locator("#log").inner_text()
