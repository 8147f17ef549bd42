"""Outputs of a session's result stream.

Every sink receives the same Symbl-shaped dicts. ``send`` never blocks and never raises:
the media path must not wait on a slow or broken output, so each sink owns a bounded
buffer and counts what it had to drop. A new output (relay, storage, console bus) is a
new class with this interface, not a change to the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiortc import RTCDataChannel, RTCPeerConnection

log = logging.getLogger(__name__)

Message = dict[str, Any]

MAX_BUFFERED = 4 * 1024 * 1024  # bytes queued in SCTP before results are dropped


class Sink(Protocol):
    name: str

    def send(self, message: Message) -> None:
        """Queue one message; never blocks, never raises."""

    async def drain(self, timeout: float) -> None:
        """Best effort: wait up to ``timeout`` until what was sent has been delivered."""

    async def close(self) -> None:
        """Release connections and tasks; called once, after the last ``drain``."""


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    """What a conversation-level sink knows of the conversation it serves."""

    id: str
    meeting_title: str | None = None


SinkFactory = Callable[[ConversationInfo], Sink]
"""Builds a sink for a new conversation (e.g. a relay to a downstream service)."""


class DataChannelSink:
    """Sends results as JSON text on the client's ``insights`` data channel.

    Messages produced before the channel opens (or before the client's channel arrives)
    wait in a bounded backlog; past it the oldest are dropped and counted, because an
    unbounded backlog is how one stuck client eats the server's memory.
    """

    name = "datachannel"

    def __init__(self, pc: RTCPeerConnection, *, backlog: int = 1000) -> None:
        self._pc = pc
        self._channel: RTCDataChannel | None = None
        self._backlog: deque[str] = deque(maxlen=backlog)
        self.sent = 0
        self.dropped = 0

    def attach(self, channel: RTCDataChannel) -> None:
        self._channel = channel
        if channel.readyState == "open":
            self._flush()
        else:
            channel.on("open", self._flush)

    def send(self, message: Message) -> None:
        try:
            text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError):
            self.dropped += 1
            log.exception("a result message could not be serialised; dropped")
            return
        channel = self._channel
        if channel is not None and channel.readyState == "open" and not self._backlog:
            self._send_now(channel, text)
            return
        if len(self._backlog) == self._backlog.maxlen:
            self.dropped += 1
        self._backlog.append(text)

    def _flush(self) -> None:
        channel = self._channel
        while channel is not None and channel.readyState == "open" and self._backlog:
            self._send_now(channel, self._backlog.popleft())

    def _send_now(self, channel: RTCDataChannel, text: str) -> None:
        if channel.bufferedAmount > MAX_BUFFERED:
            # The client stopped acknowledging (aiortc's SCTP queue has no bound of its own).
            self.dropped += 1
            if self.dropped % 100 == 1:
                log.warning("data channel not draining: dropped %d messages", self.dropped)
            return
        try:
            channel.send(text)
            self.sent += 1
        except Exception as exc:  # a closing channel must not break the media path
            self.dropped += 1
            log.debug("data channel send failed: %s", exc)

    async def drain(self, timeout: float) -> None:
        """Wait until SCTP has delivered what we sent, so closing does not abort it.

        aiortc's ``RTCPeerConnection.close`` aborts the SCTP association, discarding
        unacknowledged chunks; the last final result would be lost without this wait.
        """
        self._flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._idle():
                return
            await asyncio.sleep(0.01)
        log.warning("data channel not drained within %.1f s", timeout)

    async def close(self) -> None:
        """The peer connection owns the channel; closing it is the session's job."""

    def _idle(self) -> bool:
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return True
        if channel.bufferedAmount:
            return False
        sctp = self._pc.sctp
        if sctp is None:
            return True
        # Private in aiortc, hence the defaults: absent attributes mean "cannot tell".
        outbound = getattr(sctp, "_outbound_queue", ())
        in_flight = getattr(sctp, "_sent_queue", ())
        return not outbound and not in_flight
