"""A resumable client's data channel: numbered results, kept for a replay.

For a client that asked for ``resume``, every result on its data channel carries ``seq``
(the conversation's sequence number of that result: increasing, not contiguous, since the
others' live transcripts are numbered too). The client reports the highest ``seq`` it has
when it resumes; if its media connection had to be replaced, the results after that one are
sent again on the new channel, in order, and then everything newer. So a final is neither
lost nor repeated, within the bounds below (``missed`` in the ``resumed`` reply counts what
fell out of them).

What is kept: the last ``HISTORY`` results (at most ``HISTORY_BYTES``) addressed to this
client, partials excepted (a partial is superseded by the next one or by its final; while
no channel is open, partials are not even queued). While the channel is gone, the writer
waits instead of stopping, and results keep queueing (bounded, oldest dropped: they are in
the history anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from aiortc import RTCPeerConnection

from gateway.outputs.buffer import Item, RetryWrite
from gateway.outputs.datachannel import BACKLOG, MAX_BUFFERED, DataChannelSink
from gateway.outputs.result import Result

HISTORY = 1000
HISTORY_BYTES = 4 * 1024 * 1024
LOST_TRACKED = 4096


def with_seq(text: str, seq: int) -> str:
    """``text`` (a compact JSON object) with ``"seq": seq`` added as its last field."""
    if text == "{}":
        return f'{{"seq":{seq}}}'
    return f'{text[:-1]},"seq":{seq}}}'


def is_partial(result: Result) -> bool:
    body = result.body
    inner = body.get("message") if body.get("type") == "message" else None
    return isinstance(inner, dict) and inner.get("type") == "recognition_result" \
        and not inner.get("isFinal", False)


class ResumableChannelSink(DataChannelSink):
    name = "datachannel"

    def __init__(self, pc: RTCPeerConnection, label: str, *, backlog: int = BACKLOG,
                 history: int = HISTORY, history_bytes: int = HISTORY_BYTES) -> None:
        super().__init__(pc, label, backlog=backlog)
        self._history: deque[tuple[int, str]] = deque()
        self._history_bytes = 0
        self._max_history = history
        self._max_history_bytes = history_bytes
        self._lost: deque[int] = deque(maxlen=LOST_TRACKED)  # seqs no longer replayable
        self.replayed = 0
        self.partials_skipped = 0

    def serialize(self, result: Result) -> Item | None:
        base = super().serialize(result)
        if base is None or not isinstance(base, str):
            return base
        return with_seq(base, result.seq)

    def send(self, result: Result) -> None:
        partial = is_partial(result)
        if partial and not self._usable():
            self.partials_skipped += 1
            return
        try:
            item = self.serialize(result)
        except Exception:
            self.discarded += 1
            return
        if item is None:
            return
        if not partial and isinstance(item, str):
            self._remember(result.seq, item)
        self.put(item)

    def rebind(self, pc: RTCPeerConnection, last_seq: int) -> tuple[int, int]:
        """A new peer connection replaces the old one: its channel (when it arrives) gets
        what the client has not seen after ``last_seq``, then everything newer.
        Returns (replayed, missed)."""
        self._pc = pc
        self._channel = None
        self._queue.clear()
        replay = [text for seq, text in self._history if seq > last_seq]
        for text in replay:
            self.put(text)
        self.replayed += len(replay)
        self._changed.set()
        return len(replay), sum(1 for seq in self._lost if seq > last_seq)

    async def drain(self, timeout: float) -> None:
        if not self._usable():  # nothing can be delivered: do not wait for it
            return
        await super().drain(timeout)

    # -- BufferedSink ---------------------------------------------------------------------

    async def _ready(self) -> None:
        """Wait for an open channel, however long: a closed one is replaced on resume."""
        while True:
            channel = self._channel
            if channel is not None and channel.readyState == "open" \
                    and channel.bufferedAmount <= MAX_BUFFERED:
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 1.0)

    async def _write(self, item: Item) -> None:
        assert self._channel is not None
        try:
            self._channel.send(item)
        except Exception:
            raise RetryWrite() from None  # kept at the head until a channel takes it

    def _remember(self, seq: int, text: str) -> None:
        self._history.append((seq, text))
        self._history_bytes += len(text)
        while len(self._history) > self._max_history \
                or self._history_bytes > self._max_history_bytes:
            old_seq, old = self._history.popleft()
            self._history_bytes -= len(old)
            self._lost.append(old_seq)

    def _usable(self) -> bool:
        channel = self._channel
        return channel is not None and channel.readyState in ("connecting", "open")
