"""One downstream stream against real servers on loopback: restarts, refusals, stalls,
answers, goodbyes. No gateway around it: the connection manager alone."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from gateway.relays.settings import LinkSettings
from tests.relays.support import FAST, Published, coverage, make_link, until
from tests.support.receivers import Connection, JambonzReceiver, TwilioReceiver, pcm_chunks
from tests.support.vosk_server import SilentServer


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def noise(seconds: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(16000 * seconds)) * 3000).astype(np.int16)


async def test_a_restart_within_the_buffer_loses_no_audio(
        session: aiohttp.ClientSession) -> None:
    samples = noise(8)
    published = Published()
    async with JambonzReceiver() as receiver:
        link = make_link(session, receiver.url, published=published)
        for i, chunk in enumerate(pcm_chunks(samples)):
            link.send_audio(chunk)
            await asyncio.sleep(0.02)
            if i == 20:
                await receiver.kill()  # 3 s of audio while down, within the 10 s buffer
            elif i == 50:
                await receiver.start()
        await link.drain(5)
        await link.close()
        await until(lambda: all(c.closed.is_set() for c in receiver.connections))
        pieces = [receiver.audio(c)[:, 0] for c in receiver.connections]
        assert [c.violations for c in receiver.connections] == [[], []]
    covered, twice = coverage(samples, pieces)
    assert covered.all()                  # every sample arrived, exactly as sent
    assert twice <= 0.5 * 16000           # at most the unconfirmed tail was repeated
    assert link.lost == 0 and link.connections == 2
    (status,) = published.statuses("disconnected")
    reconnected = published.statuses("connected")[1]
    assert reconnected["replayedSeconds"] >= 2.0
    assert published.statuses("closed")[0]["lostSeconds"] == 0


async def test_beyond_the_buffer_the_loss_is_counted_and_reported(
        session: aiohttp.ClientSession) -> None:
    samples = noise(8, seed=2)
    published = Published()
    settings = dataclasses.replace(FAST, buffer_seconds=1.0, report_interval=0.2)
    async with JambonzReceiver() as receiver:
        link = make_link(session, receiver.url, published=published, settings=settings)
        for i, chunk in enumerate(pcm_chunks(samples)):
            link.send_audio(chunk)
            await asyncio.sleep(0.05)  # twice real time
            if i == 10:
                await receiver.kill()
            elif i == 40:  # 3 s of audio while down: 2 s more than the buffer
                await receiver.start()
        await link.drain(5)
        await link.close()
        await until(lambda: all(c.closed.is_set() for c in receiver.connections))
        pieces = [receiver.audio(c)[:, 0] for c in receiver.connections]
    covered, _ = coverage(samples, pieces)
    missing = (~covered).sum() / 16000
    # Counted lost: never confirmed. Part of it was written before the loss and may have
    # arrived after all (the last moments before the kill).
    maybe = link.buffer.unconfirmed_cost
    # 3 s offered while down, less the 1 s buffer, plus what was unconfirmed at the kill and
    # what came in while the reconnect backed off (more of both on a loaded machine).
    assert 1.8 <= link.lost <= 3.5 and link.lost - maybe - 1e-6 <= missing <= link.lost + 1e-6
    assert covered[-16000:].all()  # the call went on: its end arrived
    drops = published.statuses("audio_dropped")
    assert drops and sum(d["droppedSeconds"] for d in drops) == pytest.approx(link.lost)
    assert drops[-1]["totalDroppedSeconds"] == pytest.approx(link.lost)


async def test_a_refusal_stops_retries(session: aiohttp.ClientSession) -> None:
    attempts = 0

    async def refuse(request: web.Request) -> web.StreamResponse:
        nonlocal attempts
        attempts += 1
        return web.Response(status=403)

    async def close_4001(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        await ws.close(code=4001, message=b"not for you")
        return ws

    app = web.Application()
    app.router.add_get("/refuse", refuse)
    app.router.add_get("/close", close_4001)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        for path, reason in (("refuse", "HTTP 403"), ("close", "code 4001")):
            published = Published()
            link = make_link(session, f"ws://127.0.0.1:{port}/{path}", published=published)
            for chunk in pcm_chunks(noise(1)):
                link.send_audio(chunk)
            await until(lambda link=link: link.stopped is not None)  # type: ignore[misc]
            assert reason in (link.stopped or "")
            (refused,) = published.statuses("refused")
            assert reason in refused["reason"]
            link.send_audio(pcm_chunks(noise(0.1))[0])  # after a refusal: discarded
            await asyncio.sleep(0.5)
            await link.close()
        assert attempts == 1
    finally:
        await runner.cleanup()


async def test_a_handshake_that_never_comes_costs_only_the_buffer(
        session: aiohttp.ClientSession) -> None:
    published = Published()
    settings = dataclasses.replace(FAST, connect_timeout=0.3, buffer_seconds=1.0,
                                   report_interval=0.2)
    async with SilentServer() as silent:
        link = make_link(session, silent.url, published=published, settings=settings)
        for chunk in pcm_chunks(noise(3)):
            link.send_audio(chunk)  # never blocks
            await asyncio.sleep(0.02)
        await until(lambda: silent.accepted >= 3)  # it keeps trying, with backoff
        assert link.buffer.total_cost <= 1.0 and link.connections == 0
        loop = asyncio.get_running_loop()
        started = loop.time()
        await link.drain(0.5)
        await link.close()
        assert loop.time() - started < 2.0
    assert link.lost == pytest.approx(3.0, abs=0.01)
    assert "timed out" in published.statuses("disconnected")[0]["reason"]
    assert published.statuses("audio_dropped")


async def test_a_downstream_that_never_reads_cannot_grow_memory(
        session: aiohttp.ClientSession) -> None:
    accepted: list[web.WebSocketResponse] = []
    done = asyncio.Event()

    async def never_read(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        accepted.append(ws)
        await done.wait()  # never reads: no frames, no pongs
        return ws

    app = web.Application()
    app.router.add_get("/", never_read)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"ws://127.0.0.1:{runner.addresses[0][1]}/"
    published = Published()
    settings = dataclasses.replace(FAST, buffer_seconds=2.0, pong_timeout=1.0)
    link = make_link(session, url, published=published, settings=settings)
    try:
        chunk_bytes = 3200
        peak_transport = 0
        for chunk in pcm_chunks(noise(120, seed=3)):  # 2 minutes of audio, 20x real time
            link.send_audio(chunk)
            assert link.buffer.total_cost <= 2.0
            conn = link._conn
            if conn is not None:
                transport = conn.ws._conn.transport  # type: ignore[union-attr]
                if transport is not None:
                    peak_transport = max(peak_transport, transport.get_write_buffer_size())
            await asyncio.sleep(0.005)
        assert peak_transport <= 64 * 1024 + 4 * chunk_bytes  # aiohttp waits past 64 KiB
        await until(lambda: link.connections >= 2)
        assert "no answer to a ping" in published.statuses("disconnected")[0]["reason"]
        assert link._failures >= 2  # the backoff grows: it never answered
        assert link.lost > 100  # given up on, counted, reported; not kept
        assert published.statuses("audio_dropped")[-1]["totalDroppedSeconds"] > 60
    finally:
        await link.close()
        done.set()
        await runner.cleanup()


async def test_answers_come_back_tagged_marks_are_echoed_binary_is_counted(
        session: aiohttp.ClientSession) -> None:
    async def talk(conn: Connection) -> None:
        await conn.wait_frames(3)
        await conn.send({"event": "mark", "streamSid": "x", "mark": {"name": "m1"}})
        await conn.send({"event": "analysis", "sentiment": 0.4})
        await conn.send(b"\x00" * 320)
        for n in range(300):  # a babbling downstream
            await conn.send({"event": "noise", "n": n})

    published = Published()
    async with TwilioReceiver(script=talk) as receiver:
        link = make_link(session, receiver.url, "twilio", published=published, reply_rate=20)
        for chunk in pcm_chunks(noise(1)):
            link.send_audio(chunk)
            await asyncio.sleep(0.01)
        await until(lambda: link.protocol.replies >= 303)
        await until(lambda: "m1" in receiver.connections[0].state.get("marks", []))
        await link.drain(2)
        await link.close()
    replies = published.replies()
    assert replies[0]["message"]["event"] == "mark"
    assert replies[1] == {"type": "downstream_message", "protocol": "twilio",
                          "downstream": "t", "conversationId": "conv-1",
                          "participantId": "p1",
                          "message": {"event": "analysis", "sentiment": 0.4}}
    assert link.protocol.binary_replies == 1
    assert 40 <= len(replies) <= 60  # a burst of 2 x 20, then 20 per second
    assert receiver.connections[0].violations == []


async def test_the_downstream_may_end_the_stream(session: aiohttp.ClientSession) -> None:
    async def hang_up(conn: Connection) -> None:
        await conn.wait_frames(2)
        await conn.send({"type": "disconnect"})

    published = Published()
    async with JambonzReceiver(script=hang_up) as receiver:
        link = make_link(session, receiver.url, published=published)
        for chunk in pcm_chunks(noise(2)):
            link.send_audio(chunk)
            await asyncio.sleep(0.01)
        await until(lambda: link.stopped is not None)
        await asyncio.sleep(0.3)
        await link.close()
        assert len(receiver.connections) == 1  # no reconnect
    assert published.statuses("ended")
    assert json.dumps(published.replies()[-1]["message"]) == '{"type": "disconnect"}'


def test_settings_defaults_are_the_documented_ones() -> None:
    s = LinkSettings()
    assert (s.buffer_seconds, s.connect_timeout, s.backoff_initial, s.backoff_max) == \
        (10.0, 10.0, 0.5, 10.0)
