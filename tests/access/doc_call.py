"""A real two-person call through a wired gateway, for the examples in the docs.

A gateway with access control and a SQLite store runs in this process; a service app mints
a caller token for each person; two aiortc clients join over ``/ws`` and speak the sales
call of ``tests.store.stream.LINES`` in turn (each hears silence while the other talks).
With the Vosk model the speech is synthesised by espeak-ng and recognised for real; with
the scripted recogniser the same lines are "heard" at the same times, word for word.
``doc_examples`` then reads every Conversation API route from the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from gateway.app import create_app
from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.auth import Role
from gateway.config import GatewayConfig, SessionSettings
from gateway.store import STORE_KEY
from tests.access.calls import Calls
from tests.access.support import Apps, token
from tests.rtc_client import RATE, read_wav_48k
from tests.store.stream import LINES, PAUSE_SECONDS, WORD_SECONDS

PEOPLE = ("Sam Lee", "Alex Kim")
VOICES = ("en-us", "en-us+m3")
TRACKERS = [{"name": "Competition", "vocabulary": ["Salesforce", "HubSpot"]},
            {"name": "Pricing", "vocabulary": ["price", "too expensive", "discount"]}]
START: dict[str, Any] = {"insightTypes": ["question", "action_item", "follow_up"],
         "config": {"confidenceThreshold": 0.5, "timezoneOffset": -480}, "trackers": TRACKERS}


@dataclass
class DocCall:
    url: str
    service_token: str
    caller_token: str
    conversation_id: str


def _timeline(durations: list[float]) -> list[tuple[float, float]]:
    """(start, end) of each line on the call's clock, a pause between lines."""
    out, clock = [], 0.6
    for seconds in durations:
        out.append((clock, clock + seconds))
        clock += seconds + PAUSE_SECONDS
    return out


def _tracks(folder: Path, spoken: bool) -> tuple[list[np.ndarray], dict[str, list[ScriptedPhrase]]]:
    """Each person's 48 kHz audio for the whole call, and the script the fake would hear."""
    clips: list[np.ndarray | None] = []
    if spoken:
        from tests.support.speech import espeak_wav_48k

        for n, (who, text) in enumerate(LINES):
            path = espeak_wav_48k(text, folder / f"line{n}.wav", voice=VOICES[who], speed=160)
            clips.append(read_wav_48k(path))
        durations = [len(c) / RATE for c in clips if c is not None]
    else:
        clips = [None] * len(LINES)
        durations = [len(text.split()) * WORD_SECONDS for _, text in LINES]
    times = _timeline(durations)
    total = int((times[-1][1] + 1.0) * RATE)
    audio = [np.zeros(total, np.int16) for _ in PEOPLE]
    script: dict[str, list[ScriptedPhrase]] = {name: [] for name in PEOPLE}
    for (who, text), clip, (start, end) in zip(LINES, clips, times, strict=True):
        if clip is not None:
            at = int(start * RATE)
            audio[who][at:at + len(clip)] = clip[: total - at]
        script[PEOPLE[who]].append(ScriptedPhrase(text, start, end))
    return audio, script


@contextlib.asynccontextmanager
async def doc_call(model: Path | None) -> AsyncIterator[DocCall]:
    """Run the call (Vosk when ``model`` is given), yield the gateway that stored it."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        audio, script = _tracks(folder, spoken=model is not None)
        apps = Apps.create(folder)
        service = await apps.add(Role.SERVICE)
        config = apps.config(GatewayConfig(database=f"sqlite:///{folder / 'doc.db'}"))
        recognizer = None if model is not None else ScriptedRecognizer([], per_speaker=script)
        app = create_app(config, model, recognizer=recognizer,
                         session_settings=SessionSettings(analytics_interval=10.0))
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        calls = Calls()
        try:
            async with aiohttp.ClientSession() as http:
                caller = await token(http, url, service, role="caller",
                                     conversationIds=["support-call-42"])
                people = [await calls.join(url, caller, person, "support-call-42", 0,
                                           samples=audio[n], title="Contract renewal",
                                           **START)
                          for n, person in enumerate(PEOPLE)]
                await asyncio.gather(*(p.hang_up() for p in people))
                await app[STORE_KEY].sink.drain(10)
                yield DocCall(url, await token(http, url, service), caller, "support-call-42")
        finally:
            await calls.close()
            await runner.cleanup()
