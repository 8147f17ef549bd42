"""A WebRTC session's media: its peer connection, audio track, data channel and state.

A session usually has one peer connection for its whole life. A resumed session whose
media connection broke gets a new one (aiortc has no ICE restart), continuing the same
media stream and result delivery; the old one is *retired*: closed, and whatever it still
reports ignored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection

from gateway.outputs.datachannel import DataChannelSink
from signaling.interface import RemoteCandidate, SessionError

from . import peer
from .delivery import ResumableChannelSink
from .ice import IceConfigurator
from .intake import AudioIntake

log = logging.getLogger(__name__)

OnTrack = Callable[["MediaPath", MediaStreamTrack], None]
OnChannel = Callable[["MediaPath", RTCDataChannel], None]
OnState = Callable[["MediaPath", str], Awaitable[None]]


class MediaPath:
    def __init__(self, label: str, ice: IceConfigurator, *, on_track: OnTrack,
                 on_channel: OnChannel, on_state: OnState) -> None:
        self.label = label
        self.pc = RTCPeerConnection(ice.gateway_configuration(label))
        self.connected_at: float | None = None
        self.reader: asyncio.Task[None] | None = None  # the audio track's reader
        self.retired = False
        self._on_track = on_track
        self._on_channel = on_channel
        self._on_state = on_state
        self.pc.on("track", self._track)
        self.pc.on("datachannel", self._channel)
        self.pc.on("connectionstatechange", self._state)

    @property
    def lost(self) -> bool:
        """Failed or closed: no media flows here any more (aiortc cannot restart ICE)."""
        return self.retired or self.pc.connectionState in ("failed", "closed")

    async def answer(self, offer_sdp: str) -> str:
        """Apply the offer and return the answer; ``SessionError`` when aiortc refuses it."""
        try:
            return await peer.answer_offer(self.pc, offer_sdp)
        except SessionError:
            raise
        except Exception as exc:
            log.info("session %s: offer rejected by aiortc: %r", self.label, exc)
            raise SessionError(
                "invalid_sdp", f"the offer could not be applied: {exc or type(exc).__name__}",
                fatal=True) from None

    async def retire(self) -> None:
        """Close it for good; its callbacks go quiet. Bounded and never raising: aiortc's
        close can raise after a bad offer, or take a minute with a TURN server gone."""
        if self.retired:
            return
        self.retired = True
        await peer.close_peer(self.pc, self.label)

    def _track(self, track: MediaStreamTrack) -> None:
        if self.retired:
            asyncio.ensure_future(peer.discard(track))
            return
        self._on_track(self, track)

    def _channel(self, channel: RTCDataChannel) -> None:
        if not self.retired:
            self._on_channel(self, channel)

    async def _state(self) -> None:
        state = self.pc.connectionState
        if self.retired:
            return
        log.info("session %s: peer connection %s", self.label, state)
        if state == "connected" and self.connected_at is None:
            self.connected_at = time.monotonic()
        await self._on_state(self, state)


Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]
OnDown = Callable[[MediaPath, str], Awaitable[None]]


class SessionMedia:
    """A session's media: its current peer connection, the intake that feeds the session's
    media stream from it, and the sink its results leave by (``DataChannelSink``, or for a
    resumable client ``ResumableChannelSink``).

    ``on_down(path, state)`` hears when the current connection fails or closes, and
    ``on_timeout(path)`` when it did not connect within ``connect_timeout``; the session
    decides what that means. ``replace`` swaps in a new connection for a broken one.
    """

    def __init__(self, label: str, ice: IceConfigurator, intake: AudioIntake, *,
                 resumable: bool, connect_timeout: float, spawn: Spawn, on_down: OnDown,
                 on_timeout: Callable[[MediaPath], Awaitable[None]]) -> None:
        self.label = label
        self._ice = ice
        self.intake = intake
        self._connect_timeout = connect_timeout
        self._spawn = spawn
        self._on_down = on_down
        self._on_timeout = on_timeout
        self.path = self._new_path()
        sink_type = ResumableChannelSink if resumable else DataChannelSink
        self.sink: DataChannelSink = sink_type(self.path.pc, label)
        self.replaced = 0

    @property
    def lost(self) -> bool:
        return self.path.lost

    async def answer(self, offer_sdp: str) -> str:
        """The current connection answers ``offer_sdp``; it then has ``connect_timeout``."""
        path = self.path
        answer_sdp = await path.answer(self._ice.prepare_offer(offer_sdp))
        self._spawn(self._watchdog(path))
        return answer_sdp

    async def replace(self, offer_sdp: str, last_seq: int) -> tuple[str, int, int]:
        """A new connection for the same stream and results; the old one is retired.
        Returns the answer, and how many results were replayed and missed."""
        await self.retire(self.path)
        self.path = self._new_path()
        self.replaced += 1
        assert isinstance(self.sink, ResumableChannelSink)
        replayed, missed = self.sink.rebind(self.path.pc, last_seq)
        return await self.answer(offer_sdp), replayed, missed

    async def add_candidate(self, candidate: RemoteCandidate) -> None:
        await peer.add_candidate(self.path.pc, candidate, self.label)

    async def retire(self, path: MediaPath) -> None:
        """``path`` is gone for good: its last audio goes in, the phrase ends, it closes."""
        if not path.retired:
            await self.intake.switch(path.reader)
        await path.retire()

    async def finish(self, timeout: float) -> None:
        """Recognise what was received (bounded by ``timeout``)."""
        await self.intake.finish(self.path.reader, timeout)

    def _new_path(self) -> MediaPath:
        return MediaPath(self.label, self._ice, on_track=self._track,
                         on_channel=self._channel, on_state=self._state)

    def _track(self, path: MediaPath, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and path.reader is None and path is self.path:
            path.reader = self._spawn(self.intake.read(track))
        else:
            # Extra tracks are answered inactive, so this only covers a misbehaving peer.
            self._spawn(peer.discard(track))

    def _channel(self, path: MediaPath, channel: RTCDataChannel) -> None:
        if channel.label == peer.DATA_CHANNEL_LABEL and path is self.path:
            self.sink.attach(channel)
        else:
            log.info("session %s: ignoring data channel %r", self.label, channel.label)

    async def _state(self, path: MediaPath, state: str) -> None:
        if path is self.path and state in ("failed", "closed"):
            await self._on_down(path, state)

    async def _watchdog(self, path: MediaPath) -> None:
        await asyncio.sleep(self._connect_timeout)
        if path is self.path and path.connected_at is None and not path.retired:
            await self._on_timeout(path)
