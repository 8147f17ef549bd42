"""A participant's results on its WebRTC data channel (``insights``), as JSON text.

Results produced before the channel opens (or before the client's channel arrives) wait in
the sink's bounded backlog. Once open, the writer keeps at most ``MAX_BUFFERED`` bytes in
aiortc's SCTP queue, which has no bound of its own: a client that stops acknowledging makes
results wait in the backlog, where the oldest are dropped and counted, instead of growing
server memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiortc import RTCDataChannel, RTCPeerConnection

from .buffer import BufferedSink, Item, StopWriting

log = logging.getLogger(__name__)

MAX_BUFFERED = 4 * 1024 * 1024  # bytes queued in SCTP before results wait in the backlog
BACKLOG = 1000


class DataChannelSink(BufferedSink):
    name = "datachannel"

    def __init__(self, pc: RTCPeerConnection, label: str, *, backlog: int = BACKLOG) -> None:
        super().__init__(label, backlog=backlog)
        self._pc = pc
        self._channel: RTCDataChannel | None = None
        self._changed = asyncio.Event()  # the channel arrived, opened, closed or drained

    def attach(self, channel: RTCDataChannel) -> None:
        self._channel = channel
        channel.bufferedAmountLowThreshold = MAX_BUFFERED // 2
        for event in ("open", "close", "bufferedamountlow"):
            channel.on(event, self._changed.set)
        self._changed.set()

    async def _ready(self) -> None:
        while True:
            channel = self._channel
            if channel is not None:
                if channel.readyState == "closed":
                    raise StopWriting("the data channel closed")
                if channel.readyState == "open" and channel.bufferedAmount <= MAX_BUFFERED:
                    return
            self._changed.clear()
            # aiortc drops its listeners once a channel closes: look again now and then.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 1.0)

    async def _write(self, item: Item) -> None:
        assert self._channel is not None
        try:
            self._channel.send(item)
        except Exception as exc:  # a closing channel must not break the media path
            raise StopWriting(f"send failed: {exc}") from None

    async def drain(self, timeout: float) -> None:
        """Wait until SCTP has delivered what we sent, so closing does not abort it.

        aiortc's ``RTCPeerConnection.close`` aborts the SCTP association, discarding
        unacknowledged chunks; the last final result would be lost without this wait.
        """
        deadline = time.monotonic() + timeout
        await super().drain(timeout)
        while time.monotonic() < deadline:
            if self._idle():
                return
            await asyncio.sleep(0.01)
        log.warning("data channel of %s not drained within %.1f s", self.label, timeout)

    async def _goodbye(self) -> None:
        """The peer connection owns the channel; closing it is the session's job."""

    def _idle(self) -> bool:
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return True
        if self.queued or channel.bufferedAmount:
            return False
        sctp = self._pc.sctp
        if sctp is None:
            return True
        # Private in aiortc, hence the defaults: absent attributes mean "cannot tell".
        outbound = getattr(sctp, "_outbound_queue", ())
        in_flight = getattr(sctp, "_sent_queue", ())
        return not outbound and not in_flight

    def _slow_hint(self) -> str:
        return "the client is not reading its data channel"
