"""The transports' side of the relay seam, applied to the WebRTC transport in tests.

Until the lead adds the lines to gateway/transports/webrtc/ (session.py, admission.py; see
NOTES-relaywire.md), :func:`wire_webrtc` applies exactly those lines with ``monkeypatch``:
the offer's config is parsed with the relays' policy, each ``MediaStream`` gets
``taps=relays.open_participant_taps(member, start)``, and (``close_before_leave``) the
session ends its downstream streams once its audio is finished, before the member leaves.
It also adds a recording tap, so tests compare what a downstream received with what the
media stream handed the relays.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import gateway.transports.webrtc.admission as webrtc_admission
import gateway.transports.webrtc.session as webrtc_session
from gateway.conversation.start_config import parse_start_config
from gateway.pipeline.pcm import PcmChunk
from gateway.relays.conversation import SharedStream
from gateway.relays.link import DownstreamLink
from gateway.relays.manager import RELAYS_KEY, Relays
from gateway.transports.webrtc.intake import AudioIntake
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


def wire_webrtc(monkeypatch: pytest.MonkeyPatch, gw: RunningGateway, *,
                close_before_leave: bool = True) -> Wired:
    relays = gw.app[RELAYS_KEY]
    wired = Wired(relays)
    monkeypatch.setattr(webrtc_admission, "parse_start_config",
                        functools.partial(parse_start_config, downstreams=relays.policy))
    make_stream = webrtc_session.MediaStream

    def tapped(recognizer: Any, member: Any, **kwargs: Any) -> Any:
        start = gw.sessions[member.id].start_config
        assert start is not None  # parsed before the stream is made
        recorder = wired.recorders.setdefault(member.id, Recorder())
        taps = relays.open_participant_taps(member, start)  # the transport's one line
        return make_stream(recognizer, member, taps=[recorder, *taps], **kwargs)

    monkeypatch.setattr(webrtc_session, "MediaStream", tapped)
    if close_before_leave:
        finish = AudioIntake.finish

        async def then_close_taps(intake: AudioIntake, reader: Any, timeout: float) -> None:
            await finish(intake, reader, timeout)  # the session then calls member.leave()
            await relays.close_participant_taps(intake.stream.listener)  # type: ignore[arg-type]

        monkeypatch.setattr(AudioIntake, "finish", then_close_taps)
    return wired
