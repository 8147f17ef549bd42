"""Fixtures for the Symbl transport: a real gateway on loopback with a scripted recognizer.

The scripted recognizer "hears" each phrase once the stream's audio passes its end, on the
stream's clock (chunk offsets), so silence stands in for speech and every protocol test runs
in a second with exact transcripts. Accuracy is tested with the real model elsewhere
(``test_accuracy.py``, ``test_browser.py``, marked slow).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.config import SessionSettings
from gateway.http.keys import SYMBL_KEY
from gateway.transports.symbl.transport import SymblTransport
from tests.conftest import RunningGateway, StartGateway

SCRIPT = [ScriptedPhrase("good morning everyone", 0.2, 1.2),
          ScriptedPhrase("can you send me the report by friday", 1.6, 3.0),
          ScriptedPhrase("the budget looks fine", 4.0, 5.0)]


@dataclass
class SymblGateway:
    gw: RunningGateway
    recognizer: ScriptedRecognizer

    @property
    def url(self) -> str:
        return self.gw.url

    @property
    def transport(self) -> SymblTransport:
        return self.gw.app[SYMBL_KEY]


StartSymbl = Callable[..., Awaitable[SymblGateway]]


@pytest.fixture
def start_symbl(start_gateway: StartGateway) -> StartSymbl:
    """A gateway with a scripted recognizer (``per_speaker`` scripts are keyed by the
    ``speaker.name`` of the start_request); keyword arguments go to ``GatewayConfig``,
    ``settings`` to ``SessionSettings`` (e.g. a short ``offer_timeout``)."""

    async def start(script: list[ScriptedPhrase] | None = None, *,
                    per_speaker: dict[str, list[ScriptedPhrase]] | None = None,
                    settings: SessionSettings | None = None, delay: float = 0.0,
                    **config: Any) -> SymblGateway:
        recognizer = ScriptedRecognizer(SCRIPT if script is None else script,
                                        per_speaker=per_speaker, delay=delay)
        gw = await start_gateway(recognizer=recognizer, settings=settings, **config)
        return SymblGateway(gw, recognizer)

    return start


@pytest.fixture
async def symbl(start_symbl: StartSymbl) -> SymblGateway:
    return await start_symbl()


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until ``condition()`` holds: server-side cleanup finishes just after the client
    saw the close."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
