"""Helpers of the resume tests: a scripted call, a client that reconnects like the page, and
a record of what the gateway published (to compare with what a client received)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import numpy as np

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.outputs.result import Result
from tests.rtc_client import GatewayClient, ResumeRefused, WavTrack

# Who says what, on each speaker's own stream clock (seconds).
SCRIPTS = {
    "Ada": [ScriptedPhrase("good morning everyone", 0.3, 1.2),
            ScriptedPhrase("the numbers for march are in", 2.0, 3.0),
            ScriptedPhrase("revenue grew by twelve percent", 4.5, 5.5),
            ScriptedPhrase("costs stayed flat", 7.0, 7.8),
            ScriptedPhrase("so the margin improved", 9.5, 10.5),
            ScriptedPhrase("let us meet again next week", 13.0, 14.0),
            ScriptedPhrase("thanks everyone", 15.5, 16.2)],
    "Bo": [ScriptedPhrase("morning ada", 1.0, 1.8),
           ScriptedPhrase("that is great news", 5.8, 6.6),
           ScriptedPhrase("can you send me the report", 11.0, 12.2),
           ScriptedPhrase("see you then", 14.5, 15.2)],
}
RESUME = ["presence", "peer", "mute", "resume"]


def recognizer() -> ScriptedRecognizer:
    return ScriptedRecognizer(SCRIPTS["Ada"], per_speaker=SCRIPTS)


def config(name: str, conversation: str = "resume-call") -> dict[str, Any]:
    return {"conversationId": conversation, "speaker": {"name": name, "userId": name.lower()},
            "insightTypes": ["question", "action_item"]}


def silence(seconds: float, *, live: bool = True) -> WavTrack:
    return WavTrack(np.zeros(int(48_000 * seconds), dtype=np.int16), tail_silence=0.5,
                    live=live)


async def join(url: str, name: str, seconds: float, *, features: list[str] | None = None,
               carrier: str = "websocket") -> tuple[GatewayClient, WavTrack]:
    client = GatewayClient(url, carrier=carrier)
    await client.connect()
    track = silence(seconds)
    client.peer(track)
    await client.offer(config(name), features=RESUME if features is None else features)
    await asyncio.wait_for(client.connected.wait(), 10)
    return client, track


async def reconnect(client: GatewayClient, *, within: float = 30.0,
                    track: WavTrack | None = None) -> tuple[dict[str, Any], int]:
    """Resume as the page does: retry with backoff until the network lets it through.
    Returns the ``resumed`` reply and the number of attempts."""
    deadline = time.monotonic() + within
    delay, attempts = 0.2, 0
    while True:
        attempts += 1
        try:
            return await client.resume(track=track), attempts
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not reconnect within {within} s: {exc!r}") from exc
        except ResumeRefused:
            raise
        await asyncio.sleep(delay)
        delay = min(1.0, delay * 2)


def finals_of(client: GatewayClient, speaker: str) -> list[str]:
    """The texts of the final lines ``speaker`` said, as ``client`` received them."""
    return [m["payload"]["content"].lower().rstrip(".?!")
            for r in client.of_type("message_response") for m in r["messages"]
            if m["from"].get("name") == speaker]


def script(name: str, until: float = float("inf")) -> list[str]:
    return [p.text for p in SCRIPTS[name] if p.end <= until]


class Recorder:
    """A sink on the bus for every conversation: what the gateway published, in order."""

    name = "recorder"

    def __init__(self) -> None:
        self.results: list[Result] = []

    def send(self, result: Result) -> None:
        self.results.append(result)

    async def drain(self, timeout: float) -> None:
        return None

    async def close(self) -> None:
        return None

    def for_participant(self, participant: str) -> list[Result]:
        return [r for r in self.results if r.kind == "symbl" and r.for_participant(participant)]


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0,
                     what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def states(client: GatewayClient, about: str) -> list[dict[str, Any]]:
    """The presence messages ``client`` got about participant ``about``, in order."""
    return [s for s in client.received if s.get("type", "").startswith("participant")
            and s.get("participant", {}).get("id") == about]
