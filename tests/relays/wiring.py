"""Test instrumentation of the relay seam: a recording tap beside the relays' own taps, and
every downstream link the relays make, so tests compare what a downstream received with
what the media stream handed out."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gateway.transports.participant as participant
from gateway.pipeline.pcm import PcmChunk
from gateway.relays.conversation import SharedStream
from gateway.relays.link import DownstreamLink
from gateway.relays.manager import RELAYS_KEY, Relays
from tests.conftest import RunningGateway


class Recorder:
    """An ``AudioSink`` that keeps every chunk (what the relays were given)."""

    name = "recorder"

    def __init__(self) -> None:
        self.chunks: list[PcmChunk] = []

    def send_audio(self, chunk: PcmChunk) -> None:
        self.chunks.append(chunk)

    async def drain(self, timeout: float) -> None:
        pass

    async def close(self) -> None:
        pass

    def samples(self) -> np.ndarray:
        """The stream as one array (chunks are contiguous from a WebRTC transport)."""
        return np.frombuffer(b"".join(c.data for c in self.chunks), "<i2")


class Wired:
    """What the wiring saw: a recorder per participant, every link the relays made."""

    def __init__(self, relays: Relays) -> None:
        self.relays = relays
        self.recorders: dict[str, Recorder] = {}
        self.links: list[DownstreamLink] = []
        relays.observer = self.links.append

    def shared(self, label: str) -> SharedStream:
        """A conversation-level stream (mixing or results) by its downstream's label."""
        (found,) = [s for relay in self.relays.conversations.values()
                    for s in relay.shared.values() if s.target.label == label]
        return found

    def link(self, label: str, participant: str | None = None) -> DownstreamLink:
        (found,) = [lk for lk in self.links if lk.protocol.label == label and
                    (participant is None or lk.protocol.info.participant_id == participant)]
        return found


def wire_webrtc(monkeypatch: pytest.MonkeyPatch, gw: RunningGateway) -> Wired:
    """The transports open the relays' taps themselves (``transports/participant.py``); this
    adds a recording tap beside them, so tests compare what a downstream received with what
    the media stream gave out."""
    relays = gw.app[RELAYS_KEY]
    wired = Wired(relays)
    make_stream = participant.MediaStream

    def recorded(recognizer: Any, member: Any, *, taps: Any = (), **kwargs: Any) -> Any:
        recorder = wired.recorders.setdefault(member.id, Recorder())
        return make_stream(recognizer, member, taps=[recorder, *taps], **kwargs)

    monkeypatch.setattr(participant, "MediaStream", recorded)
    return wired
