"""The remote recogniser's bookkeeping: server choice, backoff (its clock map is
``gateway.asr.timeline.Timeline``, tested in test_timeline.py)."""

from __future__ import annotations

import pytest

from gateway.asr.remote import RecognizerUnavailable, RemoteVoskRecognizer
from gateway.transcript import Speaker
from tests.support.vosk_server import free_port


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
