"""The replay buffer: kept until confirmed, replayed after a loss, bounded by cost."""

from __future__ import annotations

from gateway.relays.replay import ReplayBuffer


def buffer(bound: float = 5.0) -> ReplayBuffer[str]:
    return ReplayBuffer(bound, lambda item: float(len(item)))


def write_all(buf: ReplayBuffer[str]) -> list[str]:
    out = []
    while (entry := buf.next_unsent()) is not None:
        out.append(entry[1])
        buf.written(entry[0])
    return out


def test_written_items_stay_until_confirmed_and_come_back_after_a_loss() -> None:
    buf = buffer()
    for item in "abc":
        buf.put(item)
    assert write_all(buf) == ["a", "b", "c"] and not buf.unsent and buf.unconfirmed
    mark = buf.written_mark  # a ping now covers a, b, c
    buf.put("d")
    assert write_all(buf) == ["d"]
    assert buf.confirm(mark) == 3.0  # the pong came back: a, b, c arrived
    assert buf.rewind() == 1.0        # the connection broke before d was confirmed
    assert write_all(buf) == ["d"]     # so d is sent again on the next one
    assert buf.lost_cost == 0


def test_past_the_bound_the_oldest_goes_and_unsent_ones_count_as_lost() -> None:
    buf = buffer(bound=3)
    for item in "ab":
        buf.put(item)
    write_all(buf)               # a, b written, unconfirmed
    assert buf.put("c") == 0.0
    assert buf.put("d") == 1.0   # a evicted unconfirmed: lost (though it may have arrived)
    assert buf.unconfirmed_cost == 1.0
    buf.rewind()                 # lost connection: b, c, d all unsent now
    assert buf.put("e") == 1.0   # b evicted: written once, it too may have arrived
    assert buf.unconfirmed_cost == 2.0
    assert buf.put("f") == 1.0   # c evicted, never written at all
    assert buf.lost_cost == 3.0 and buf.lost_items == 3
    assert write_all(buf) == ["d", "e", "f"]


def test_the_item_being_written_is_never_evicted() -> None:
    buf = buffer(bound=2)
    buf.put("a")
    entry = buf.next_unsent()
    assert entry is not None
    for item in "bcd":
        buf.put(item)
    buf.written(entry[0])
    assert len(buf) == 2 and buf.total_cost == 2.0  # a (in flight) and d
    assert buf.confirm(buf.written_mark) == 1.0
    assert write_all(buf) == ["d"]
    assert buf.lost_cost == 2.0  # b and c


def test_a_failed_write_stays_unsent_and_clear_reports_what_never_went() -> None:
    buf = buffer()
    buf.put("a")
    buf.put("bb")
    entry = buf.next_unsent()
    assert entry is not None
    buf.failed()
    assert buf.next_unsent() == entry
    buf.written(entry[0])
    assert buf.clear() == 2.0 and not buf.unsent and len(buf) == 0


async def test_waiters_wake_on_changes() -> None:
    buf = buffer()
    assert not await buf.wait(lambda: buf.unsent, timeout=0.05)
    buf.put("a")
    assert await buf.wait(lambda: buf.unsent, timeout=0.05)
