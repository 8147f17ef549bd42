"""Every bad input the issue names: each gets a clear error, and no other session is harmed.

Each test runs a well-behaved Symbl client alongside the bad one, on the same gateway, and
checks that it still gets its exact transcript and closing messages.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from gateway.asr.scripted import ScriptedPhrase
from gateway.http.keys import ADMISSION_KEY
from gateway.transports.symbl.sink import SymblSocketSink
from tests.support import symbl_client as client
from tests.support.symbl_client import Socket, finals, kind_of, kinds, silence, start_request
from tests.symbl.conftest import SCRIPT, StartSymbl, SymblGateway, eventually


async def healthy(url: str) -> client.Session:
    """A well-behaved client streaming 4 s of audio at 4x real time."""
    frames = [(f, 0.256) for f in silence(4.0)]
    return await client.stream(url, frames, start_request(), speed=4.0)


def assert_unharmed(session: client.Session) -> None:
    assert [m["payload"]["content"] for r in session.messages
            if r["type"] == "message_response" for m in r["messages"]] == [
        "Good morning everyone.", "Can you send me the report by Friday?"]
    assert kinds(session.messages)[-2:] == ["conversation_completed", "recognition_stopped"]
    assert session.close_code == 1000 and not session.errors


async def errors_of(ws: Socket, count: int) -> list[dict[str, Any]]:
    return [await ws.until(lambda m: isinstance(m, dict) and m.get("type") == "error")
            for _ in range(count)]


async def test_text_before_start_request(symbl: SymblGateway) -> None:
    async def bad() -> list[str]:
        ws = await Socket.open(symbl.url)
        texts: list[dict[str, Any] | str] = [
            {"type": "stop_request"},
            {"type": "modify_request", "speechRecognition": {"sampleRateHertz": 8000}},
            {"type": "hello"}, "[1, 2]", {"config": {}}]
        for text in texts:
            await ws.send(text)
        codes = [e["code"] for e in await errors_of(ws, 5)]
        await ws.send(start_request())  # still usable
        assert kind_of(await ws.next()) == "started_listening"
        await ws.close()
        return codes

    codes, session = await asyncio.gather(bad(), healthy(symbl.url))
    assert codes == ["not_started", "not_started", "unknown_type", "bad_message",
                     "bad_message"]
    assert_unharmed(session)


async def test_binary_before_start_request_is_ignored_and_said_once(
        symbl: SymblGateway) -> None:
    async def bad() -> list[Any]:
        ws = await Socket.open(symbl.url, "early-audio")
        for frame in silence(2.0):
            await ws.send(frame)
        await ws.send(start_request())
        for frame in silence(1.3):
            await ws.send(frame)
        await ws.send({"type": "stop_request"})
        got = await ws.rest()
        await ws.close()
        return got

    got, session = await asyncio.gather(bad(), healthy(symbl.url))
    assert [m["code"] for m in got if m["type"] == "error"] == ["audio_before_start"]
    assert got[0]["type"] == "error"  # before the greeting: it was said at once
    assert finals(got) == [SCRIPT[0].text]
    early = next(s for s in symbl.recognizer.streams if s.speaker.id and
                 sum(c.samples for c in s.chunks) == int(1.3 * 16000))
    assert early.chunks[0].offset == 0  # the ignored audio is not on the clock
    assert_unharmed(session)


async def test_second_start_request_is_refused_and_the_first_stands(
        symbl: SymblGateway) -> None:
    async def bad() -> list[Any]:
        ws = await Socket.open(symbl.url)
        await ws.send(start_request())
        await ws.notice("recognition_started")
        await ws.send(start_request("MULAW", 8000))
        (error,) = await errors_of(ws, 1)
        assert error["code"] == "already_started"
        for frame in silence(1.3):  # still LINEAR16 16 kHz, as first declared
            await ws.send(frame)
        await ws.send({"type": "stop_request"})
        got = await ws.rest()
        await ws.close()
        return got

    got, session = await asyncio.gather(bad(), healthy(symbl.url))
    assert finals(got) == [SCRIPT[0].text]
    assert_unharmed(session)


async def test_unknown_encoding_or_rate_out_of_range(symbl: SymblGateway) -> None:
    async def bad() -> list[dict[str, Any]]:
        ws = await Socket.open(symbl.url)
        await ws.send(start_request("SPEEX", 16000))
        await ws.send(start_request("LINEAR16", 96000))
        await ws.send(start_request("LINEAR16", 4000))
        await ws.send(start_request("LINEAR16", "fast"))  # type: ignore[arg-type]
        await ws.send(start_request("audio/webm;codecs=vorbis", 48000))
        errors = await errors_of(ws, 5)
        await ws.send(start_request("MULAW", 8000))  # corrected: accepted
        assert kind_of(await ws.next()) == "started_listening"
        await ws.close()
        return errors

    errors, session = await asyncio.gather(bad(), healthy(symbl.url))
    assert [e["code"] for e in errors] == ["unsupported_audio", "unsupported_audio",
                                           "unsupported_audio", "invalid_start_request",
                                           "unsupported_audio"]
    assert "SPEEX" in errors[0]["message"] and "LINEAR16" in errors[0]["details"]
    assert "8000 and 48000" in errors[1]["details"]
    assert "sampleRateHertz" in errors[3]["message"]
    assert_unharmed(session)


async def test_frames_over_the_limit_are_refused_and_dropped(symbl: SymblGateway) -> None:
    async def bad() -> tuple[list[dict[str, Any]], list[Any]]:
        ws = await Socket.open(symbl.url)
        await ws.send(start_request())
        await ws.send(b"\0" * 8193)  # one byte over Symbl's 8192
        await ws.send(b"\0" * 100_000)
        errors = await errors_of(ws, 2)
        for frame in silence(1.3):  # exactly 8192-byte frames pass
            await ws.send(frame)
        await ws.send({"type": "stop_request"})
        got = await ws.rest()
        await ws.close()
        return errors, got

    (errors, got), session = await asyncio.gather(bad(), healthy(symbl.url))
    assert [e["code"] for e in errors] == ["frame_too_large"] * 2
    assert "8192" in errors[0]["details"]
    assert finals(got) == [SCRIPT[0].text]
    assert_unharmed(session)


async def test_non_json_text(symbl: SymblGateway) -> None:
    async def bad() -> list[dict[str, Any]]:
        ws = await Socket.open(symbl.url)
        await ws.send("hello")
        await ws.send(start_request())
        await ws.notice("recognition_started")
        await ws.send("{not json")
        await errors_of(ws, 1)
        await ws.send({"type": "stop_request"})
        await ws.rest()
        await ws.close()
        return [m for m in ws.received if m["type"] == "error"]

    errors, session = await asyncio.gather(bad(), healthy(symbl.url))
    assert [e["code"] for e in errors] == ["bad_json", "bad_json"]
    assert errors[0]["details"]
    assert_unharmed(session)


async def test_undecodable_audio_is_told_and_closed(symbl: SymblGateway) -> None:
    """Audio that does not decode as declared: the error, then close 1003 (unsupported
    data); the connection then ends as any dropped one does."""
    async def bad() -> tuple[list[Any], int | None]:
        ws = await Socket.open(symbl.url, "garbage")
        await ws.send(start_request("audio/webm;codecs=opus", 48000))
        await ws.send(b"\x1a\x45\xdf\xa3" + b"\0garbage" * 500)
        got = await ws.rest()
        await ws.close()
        return got, ws.close_code

    (got, code), session = await asyncio.gather(bad(), healthy(symbl.url))
    assert got[-1]["code"] == "bad_audio" and "matroska" in got[-1]["message"]
    assert code == 1003
    await eventually(lambda: "garbage" not in symbl.transport.sessions)
    assert_unharmed(session)


async def test_a_socket_id_already_streaming_is_refused(symbl: SymblGateway) -> None:
    first = await Socket.open(symbl.url, "taken")
    await first.send(start_request())
    await first.notice("recognition_started")
    second = await Socket.open(symbl.url, "taken")
    got = await second.rest()
    await second.close()
    assert [m["code"] for m in got] == ["connection_in_use"] and second.close_code == 1008
    for frame in silence(1.3):
        await first.send(frame)
    await first.send({"type": "stop_request"})
    await first.rest()
    await first.close()
    assert finals(first.received) == [SCRIPT[0].text]


async def test_an_invalid_connection_id(symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url, "bad%20id")
    got = await ws.rest()
    await ws.close()
    assert [m["code"] for m in got] == ["invalid_connection_id"] and ws.close_code == 1008


async def test_a_client_that_stops_reading_costs_bounded_memory(
        start_symbl: StartSymbl) -> None:
    """A client that never reads: its own backlog drops its oldest messages (bounded in
    items and characters); the gateway's memory stays flat and other sessions go on."""
    # Partials of a phrase of 600 long words grow to tens of KiB each, ten a second: output
    # far beyond any socket buffer within seconds of audio.
    long_phrase = ScriptedPhrase(" ".join(f"{i:04d}{'x' * 56}" for i in range(600)), 0.0, 60.0)
    symbl = await start_symbl(per_speaker={"mute": [long_phrase]})
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(symbl.url.replace("http", "ws") + "/v1/streaming/mute")
        await ws.send_json(start_request(speaker={"name": "mute"}))

        async def send_all() -> None:
            for frame in silence(59.0):  # and it never reads a byte
                await ws.send_bytes(frame)

        def mute_sink() -> SymblSocketSink | None:
            session = symbl.transport.sessions.get("mute")
            return session.sink if session is not None else None

        sending = asyncio.ensure_future(send_all())
        await eventually(lambda: (s := mute_sink()) is not None and s.dropped > 50, 60)
        sink = mute_sink()
        assert sink is not None and sink.queued <= 1000
        # Bounded in characters too: at most one item over the bound (the newest is kept).
        assert sink._queue.total_cost <= 4 * 1024 * 1024 + 60_000
        session_other = await healthy(symbl.url)
        sending.cancel()
        await ws.close()
    assert_unharmed(session_other)


async def test_200_sockets_at_once(start_symbl: StartSymbl) -> None:
    """Twenty are admitted (the session limit), the others are told ``server_busy`` and
    closed with 1013; every admitted one completes its session."""
    symbl = await start_symbl(max_sessions=20)
    answered = 0
    everyone_answered = asyncio.Event()  # the admitted hold their places until then

    async def one(i: int) -> tuple[list[Any], int | None]:
        nonlocal answered
        ws = await Socket.open(symbl.url, f"crowd-{i}")
        await ws.send(start_request())
        first = await ws.next(timeout=60)
        answered += 1
        if answered == 200:
            everyone_answered.set()
        if kind_of(first) == "started_listening":
            await asyncio.wait_for(everyone_answered.wait(), 60)
            for frame in silence(1.3):
                await ws.send(frame)
            await ws.send({"type": "stop_request"})
        got = [first, *await ws.rest(timeout=120)]
        await ws.close()
        return got, ws.close_code

    results = await asyncio.gather(*(one(i) for i in range(200)))
    admitted = [(got, code) for got, code in results if kind_of(got[0]) == "started_listening"]
    refused = [(got, code) for got, code in results if got[0].get("type") == "error"]
    assert len(admitted) == 20 and len(refused) == 180
    for got, code in admitted:
        assert finals(got) == [SCRIPT[0].text] and code == 1000
    for got, code in refused:
        assert got[0]["code"] == "server_busy" and code == 1013 and len(got) == 1
    await eventually(lambda: symbl.gw.app[ADMISSION_KEY].in_use == 0)


async def test_an_absurd_frame_closes_the_socket_with_1009(symbl: SymblGateway) -> None:
    """Past 1 MiB (the largest text frame a start_request may need) the WebSocket layer
    refuses the frame itself, without reading it into memory."""
    ws = await Socket.open(symbl.url)
    await ws.send(start_request())
    await ws.notice("recognition_started")
    await ws.send(b"\0" * (2 << 20))
    await ws.rest()
    await ws.close()
    assert ws.close_code == 1009
    await eventually(lambda: not symbl.transport.sessions)
