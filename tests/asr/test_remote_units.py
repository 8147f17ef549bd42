"""The remote recogniser's bookkeeping: the stream clock map, server choice, backoff."""

from __future__ import annotations

import pytest

from gateway.asr.remote import RecognizerUnavailable, RemoteVoskRecognizer
from gateway.asr.vosk_server_protocol import FedClock
from gateway.transcript import Speaker
from tests.support.vosk_server import free_port


def test_fed_time_maps_onto_the_stream_clock_across_skips() -> None:
    clock = FedClock()
    clock.feed(0, 1600)
    clock.feed(1600, 1600)            # contiguous: one segment
    clock.feed(16000 * 60, 3200)      # a minute later (silence not forwarded)
    assert clock.fed == 6400
    assert clock.to_stream(0.1) == pytest.approx(0.1)
    assert clock.to_stream(0.2, end=True) == pytest.approx(0.2)  # the skip is at fed 0.2 s
    assert clock.to_stream(0.2) == pytest.approx(60.0)
    assert clock.to_stream(0.25) == pytest.approx(60.05)
    assert clock.to_stream(0.5) == pytest.approx(60.3)  # just past the end: extrapolated


def test_forgetting_keeps_what_later_words_need() -> None:
    clock = FedClock()
    for i in range(10):
        clock.feed(i * 16000, 1600)   # ten separate segments
    clock.forget()
    assert clock.to_stream(1.0) == pytest.approx(9.1)  # the last segment survives
    clock.feed(200 * 16000, 1600)
    assert clock.to_stream(1.05) == pytest.approx(200.05)


def test_the_least_busy_ready_server_is_picked_and_failures_back_off() -> None:
    now = [100.0]
    pool = RemoteVoskRecognizer(["ws://a:1", "ws://b:1", "ws://c:1"],
                                backoff_initial=1.0, backoff_max=8.0, clock=lambda: now[0])
    a, b, c = pool.servers
    a.streams, b.streams, c.streams = 2, 1, 1
    assert {pool.pick(set()).url for _ in range(4)} == {"ws://b:1", "ws://c:1"}  # type: ignore[union-attr]
    pool.failed(b, "test")
    pool.failed(c, "test")
    assert pool.pick(set()) is a
    assert pool.pick({"ws://a:1"}) is None
    now[0] += 1.0  # the first backoff is 0.5..1 s
    assert pool.pick({"ws://a:1"}) in (b, c)
    for _ in range(10):
        pool.failed(b, "again")
    assert b.retry_at - now[0] <= 8.0  # capped


@pytest.mark.parametrize("url", ["http://host:2700", "host:2700", "ws://", ""])
def test_only_websocket_urls_are_accepted(url: str) -> None:
    with pytest.raises(ValueError):
        RemoteVoskRecognizer([url])


async def test_no_reachable_server_is_a_clear_error() -> None:
    urls = [f"ws://127.0.0.1:{free_port()}", f"ws://127.0.0.1:{free_port()}"]
    pool = RemoteVoskRecognizer(urls, connect_timeout=2.0)
    try:
        with pytest.raises(RecognizerUnavailable, match="no speech recognition server"):
            await pool.open_stream(Speaker(name="Ann"))
        assert all(s.lost == 1 and s.streams == 0 for s in pool.servers)
    finally:
        await pool.aclose()
