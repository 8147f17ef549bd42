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

Each gets partials, finals and insights, in Symbl's order, and for LINEAR16 every sample
the page sent (counted by Playwright on the socket) reaches the recognizer: the transport
loses nothing. Accuracy bound, against Vosk straight on the same WAV
(``direct_transcript``: 7 errors on 78 words): the browser path adds Chrome's capture and
WebAudio resampling, Symbl's conversion (a zeroed sample every 1024, 16-bit truncation),
for the tutorial a declared rate 8.8 % off (slowed and pitched down; offline on this WAV:
+0), Opus for MediaRecorder, and capture that starts and stops mid-stream; and the synthetic
voice's borderline words flip between runs ("end of/end up", "time is the/type is a").
Measured on the shared 2-core machine: 6-14 errors. The bound, straight + 10, is what the
WER check is for once delivery is proven: audio decoded wrongly (32000 declared for 48000:
49 errors offline) or garbled; lost audio is caught exactly by the sample count.
"""

from __future__ import annotations

import asyncio
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
from gateway.http.keys import SYMBL_KEY
from gateway.transports.symbl.session import SymblSession
from gateway.transports.symbl.transport import SymblTransport
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
EXTRA_ERRORS = 10


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


class Traffic:
    """What the page's WebSocket sent and received, as Playwright sees it: every received
    frame parsed (Symbl snippets ``JSON.parse`` every frame: one that is not JSON fails the
    test here too), the declared rate and the audio bytes sent."""

    def __init__(self, browser: Browser) -> None:
        self.received: list[dict[str, Any]] = []
        self.declared_rate: int | None = None
        self.audio_bytes = 0
        browser.page.on("websocket", self._socket)

    def _socket(self, ws: Any) -> None:
        ws.on("framereceived", lambda payload: self.received.append(json.loads(payload)))
        ws.on("framesent", self._sent)

    def _sent(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            self.audio_bytes += len(payload)
        elif json.loads(payload).get("type") == "start_request":
            speech = json.loads(payload)["config"]["speechRecognition"]
            self.declared_rate = int(speech["sampleRateHertz"])


async def watch(transport: SymblTransport) -> tuple[list[SymblSession], asyncio.Task[None]]:
    """Keep every session the transport opens (the test reads its stream's counters after
    the session has ended and left the registry)."""
    seen: list[SymblSession] = []

    async def poll() -> None:
        while True:
            seen.extend(s for s in transport.sessions.values() if s not in seen)
            await asyncio.sleep(0.05)

    return seen, asyncio.ensure_future(poll())


def check_delivery(traffic: Traffic, sessions: list[SymblSession]) -> None:
    """Every sample the page sent reached the recognizer: none lost by the transport."""
    (session,) = sessions
    assert session.stream is not None and traffic.declared_rate is not None
    expected = traffic.audio_bytes / 2 * 16000 / traffic.declared_rate
    received = session.stream.chunks_in * 1600  # 100 ms chunks (the last one shorter)
    assert session.stream.dropped_chunks == 0
    assert expected - 1600 <= received <= expected + 3200, (received, expected)


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
    traffic = Traffic(browser)
    sessions, watching = await watch(gw.app[SYMBL_KEY])
    page = browser.page
    host = gw.url.removeprefix("http://")
    stop_ms = int((duration - TAIL / 2) * 1000)
    await page.goto(f"{pages}/tests/tutorial.html?host={host}&token={token}"
                    f"&stopAfterMs={stop_ms}&contextRate=48000")
    await page.click("#start")
    await page.wait_for_function("window.state === 'closed'", timeout=(duration + 90) * 1000)
    watching.cancel()
    assert await page.evaluate("window.contextRate") == 48000
    assert traffic.declared_rate == 44100
    assert await page.evaluate("window.closeCode") == 1000
    check_delivery(traffic, sessions)
    check_session(traffic.received, reference, straight_errors)
    assert await page.evaluate("window.received.length") == len(traffic.received)


@pytest.mark.parametrize("encoding", ["LINEAR16", "audio/webm;codecs=opus"])
async def test_migration_guide_page(
        start_gateway: StartGateway, launch_browser: LaunchBrowser,  # noqa: F811
        pages: str, speech: tuple[Path, str, float], straight_errors: int,
        encoding: str) -> None:
    wav, reference, duration = speech
    gw = await start_gateway(auth=AuthConfig(allowed_origins=(pages,)))
    browser = await launch_browser(wav, extra_args=["--autoplay-policy=no-user-gesture-required"])
    traffic = Traffic(browser)
    sessions, watching = await watch(gw.app[SYMBL_KEY])
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
    watching.cancel()
    if encoding == "LINEAR16":  # (MediaRecorder's bytes are compressed: no sample count)
        check_delivery(traffic, sessions)
    transcript = check_session(traffic.received, reference, straight_errors)
    shown = await page.locator("#transcript").inner_text()
    assert " ".join(shown.split()) == " ".join(transcript.split())
    assert "closed 1000" in await page.locator("#log").inner_text()
