"""The one buffered sink: bounds, drop-oldest around the item in flight, writer, close."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.outputs.buffer import (
    BoundedQueue,
    BufferedSink,
    Item,
    RetryWrite,
    StopWriting,
)
from gateway.outputs.result import Result


def test_queue_drops_the_oldest_but_never_the_item_in_flight() -> None:
    q: BoundedQueue[str] = BoundedQueue(3)
    for text in "abc":
        q.put(text)
    seq, head = q.take()
    assert head == "a"
    assert q.put("d") == 1  # "b" goes, not "a" which is being written
    q.done(seq)
    assert [q.take()[1] for _ in range(1)] == ["c"]


def test_queue_bound_by_cost() -> None:
    q: BoundedQueue[bytes] = BoundedQueue(1000, max_cost=10, cost=len)
    q.put(b"12345")
    q.put(b"12345")
    assert q.put(b"123") == 1 and len(q) == 2 and q.total_cost == 8


class ListSink(BufferedSink):
    """Writes into a list; can be told to fail, stall or refuse."""

    name = "list"

    def __init__(self, backlog: int = 100) -> None:
        super().__init__("test", backlog=backlog)
        self.written: list[Item] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = 0
        self.refuse = False
        self.goodbyes = 0

    async def _write(self, item: Item) -> None:
        await self.gate.wait()
        if self.refuse:
            raise StopWriting("refused")
        if self.fail_next:
            self.fail_next -= 1
            raise RetryWrite()
        self.written.append(item)

    async def _goodbye(self) -> None:
        self.goodbyes += 1


def result(n: int, kind: str = "symbl") -> Result:
    return Result.of("c", {"type": "message_response", "n": n}, n, kind=kind)  # type: ignore[arg-type]


async def test_writes_in_order_and_retries_without_loss() -> None:
    sink = ListSink()
    sink.fail_next = 3
    for n in range(20):
        sink.send(result(n))
    sink.send(result(99, kind="lifecycle"))  # not part of this output's protocol
    await sink.drain(2)
    assert sink.written == [result(n).text for n in range(20)]
    assert (sink.sent, sink.dropped, sink.discarded) == (20, 0, 0)
    await sink.close()
    assert sink.goodbyes == 1 and sink.closed


async def test_a_stalled_writer_bounds_memory_and_warns_once(
        caplog: pytest.LogCaptureFixture) -> None:
    sink = ListSink(backlog=10)
    sink.gate.clear()
    with caplog.at_level(logging.WARNING):
        sink.send(result(0))
        await asyncio.sleep(0.01)  # the writer takes it and stalls on the gate
        for n in range(1, 100):
            sink.send(result(n))
    assert sink.queued == 10 and sink.dropped == 90
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 1
    sink.gate.set()
    await sink.drain(2)
    assert sink.written[0] == result(0).text  # it was in flight: never evicted
    assert sink.written[1:] == [result(n).text for n in range(91, 100)]
    await sink.close()


async def test_refusal_stops_and_discards() -> None:
    sink = ListSink()
    sink.refuse = True
    sink.send(result(1))
    sink.send(result(2))
    for _ in range(20):
        if sink.stopped:
            break
        await asyncio.sleep(0.01)
    assert sink.stopped and sink.discarded == 2
    sink.send(result(3))
    assert sink.discarded == 3 and sink.queued == 0
    await sink.drain(1)
    await sink.close()


async def test_close_abandons_what_could_not_be_written() -> None:
    sink = ListSink()
    sink.gate.clear()
    for n in range(5):
        sink.send(result(n))
    await sink.drain(0.05)
    await sink.close()
    assert sink.discarded == 5 and sink.queued == 0
    sink.send(result(9))
    assert sink.discarded == 6
