"""Session resume over the WebSocket: a call survives its signaling connection being cut.

Real gateway, real aiortc peers, a real TCP proxy between the client's signaling and the
gateway (``TcpProxy.cut`` resets the connections and refuses new ones for a while); the
scripted recogniser makes each transcript exact, so "no final lost, none repeated" is an
equality with the script.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gateway.asr.scripted import ScriptedRecognizer
from signaling.connection import CLOSE_RESUMED_ELSEWHERE
from tests.conftest import RunningGateway
from tests.resume.conftest import MakeProxy
from tests.resume.support import (
    Recorder,
    eventually,
    finals_of,
    join,
    reconnect,
    script,
    states,
)
from tests.rtc_client import GatewayClient, ResumeRefused

Scripted = Callable[..., Awaitable[RunningGateway]]


async def test_a_call_survives_its_signaling_cut_for_ten_seconds(
        scripted: Scripted, proxies: MakeProxy) -> None:
    gw = await scripted()
    proxy = await proxies(gw.url)
    ada, ada_track = await join(proxy.url, "Ada", 17.0)
    bo, bo_track = await join(gw.url, "Bo", 16.0)
    ada_id = ada.session_id
    assert ada_id is not None
    assert ada.answer["resumeToken"] and ada.answer["resumeGrace"] == 30.0
    await ada.wait_result(lambda m: m.get("type") == "message_response", 15)

    assert proxy.cut(seconds=10.0) == 2  # both ends of Ada's signaling connection
    await asyncio.wait_for(ada.signaling_closed.wait(), 5)
    # Bo sees Ada reconnecting, not gone.
    await bo.next_signal(lambda m: m.get("type") == "participant_state"
                         and m["participant"]["id"] == ada_id
                         and m["participant"].get("reconnecting") is True)
    assert ada_id in gw.sessions
    # The media path still works: Ada's data channel keeps delivering while she is away.
    during = len(finals_of(ada, "Ada"))
    await asyncio.sleep(6.0)
    assert len(finals_of(ada, "Ada")) > during

    reply, attempts = await reconnect(ada, within=20.0)
    assert attempts > 1 and proxy.refused >= 1  # the outage was real
    assert reply["sessionId"] == ada_id
    assert reply["conversationId"] == "resume-call"
    assert reply["replayed"] == 0 and reply["missed"] == 0 and "sdp" not in reply
    # A fresh roster right after the reply: Bo, connected.
    await eventually(lambda: ada.received[-1] is not reply, 5, "the roster")
    roster = ada.received[ada.received.index(reply) + 1]
    assert roster["type"] == "participants"
    assert [p["name"] for p in roster["participants"]] == ["Bo"]
    assert "reconnecting" not in roster["you"]
    await bo.next_signal(lambda m: m.get("type") == "participant_state"
                         and m["participant"]["id"] == ada_id
                         and "reconnecting" not in m["participant"])

    await asyncio.wait_for(asyncio.gather(ada_track.finished.wait(), bo_track.finished.wait()),
                           30)
    await ada.bye()
    await bo.bye()
    await ada.close()
    await bo.close()
    # Every final once, in order, on one conversation: Ada's and Bo's as Ada received them.
    assert ada.duplicates == []
    assert finals_of(ada, "Ada") == script("Ada")
    assert finals_of(ada, "Bo") == script("Bo")
    assert [s["type"] for s in states(bo, ada_id)].count("participant_left") == 1
    streams = [s for s in _recognizer(gw).streams if s.speaker.name == "Ada"]
    assert len(streams) == 1  # the same recognition stream all along
    assert ada.of_type("recognition_stopped")


def _recognizer(gw: RunningGateway) -> ScriptedRecognizer:
    recognizer = gw.webrtc.services.recognizer
    assert isinstance(recognizer, ScriptedRecognizer)
    return recognizer


async def test_a_broken_media_path_is_renegotiated_and_missed_results_replayed(
        scripted: Scripted, proxies: MakeProxy, recorder: Recorder) -> None:
    gw = await scripted()
    gw.bus.attach_all(recorder)
    proxy = await proxies(gw.url)
    ada, ada_track = await join(proxy.url, "Ada", 17.0)
    bo, bo_track = await join(gw.url, "Bo", 16.0)
    ada_id = ada.session_id
    assert ada_id is not None
    await ada.wait_result(lambda m: m.get("type") == "message_response", 15)

    # Wi-Fi gone: the media connection closes and signaling is cut, for 4 s.
    assert ada.pc is not None
    await ada.pc.close()
    proxy.cut(seconds=4.0)
    session = gw.sessions[ada_id]
    await eventually(lambda: session.media is not None and session.media.lost, 10,
                     "the gateway to see Ada's media gone")
    # Bo goes on talking meanwhile; his lines are kept for Ada.
    await asyncio.sleep(4.0)
    reply, _ = await reconnect(ada, track=ada_track)
    assert reply["sessionId"] == ada_id and "sdp" in reply
    await asyncio.wait_for(ada.connected.wait(), 10)
    assert reply["replayed"] >= 1 and reply["missed"] == 0

    await asyncio.wait_for(asyncio.gather(ada_track.finished.wait(), bo_track.finished.wait()),
                           30)
    await ada.bye()
    await bo.bye()
    await ada.close()
    await bo.close()
    assert ada.duplicates == []
    # Ada received exactly what the gateway published for her (partials aside: they are
    # not kept for a replay), each once, in order.
    published = [r.seq for r in recorder.for_participant(ada_id) if not _partial(r.body)]
    received = [m["seq"] for m in ada.results if not _partial(m)]
    assert received == published
    # Bo's lines all reached her; hers are those her microphone sent (the audio of the
    # outage never arrived, the phrase it cut was ended with what was heard of it).
    assert finals_of(ada, "Bo") == script("Bo")
    mine = finals_of(ada, "Ada")
    assert len(mine) == len(set(mine)) and mine[0] == "good morning everyone"
    # One recognition stream; its clock jumped over the outage instead of restarting.
    (stream,) = [s for s in _recognizer(gw).streams if s.speaker.name == "Ada"]
    offsets = [c.offset for c in stream.chunks]
    assert offsets == sorted(offsets)
    jumps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    assert max(jumps) / 16_000 > 3.0, "the new track continues the stream's clock"


def _partial(body: object) -> bool:
    if not isinstance(body, dict) or body.get("type") != "message":
        return False
    inner = body.get("message") or {}
    return inner.get("type") == "recognition_result" and not inner.get("isFinal")


async def test_a_wrong_token_is_refused_and_harms_nobody(scripted: Scripted) -> None:
    gw = await scripted()
    ada, _ = await join(gw.url, "Ada", 6.0)
    assert ada.session_id is not None
    thief = GatewayClient(gw.url)
    await thief.connect(resume=ada.session_id)
    try:
        await thief.send({"type": "resume", "sessionId": ada.session_id,
                          "resumeToken": "x" + ada.answer["resumeToken"][1:], "lastSeq": 0})
        error = await thief.error()
        assert error["code"] == "resume_failed" and error["reason"] == "bad_token"
        await thief.send({"type": "resume", "sessionId": "no-such-session",
                          "resumeToken": "whatever"})
        error = await thief.error()
        assert error["code"] == "resume_failed" and error["reason"] == "unknown_session"
        await thief.send({"type": "resume", "sessionId": ada.session_id,
                          "resumeToken": ada.answer["resumeToken"], "lastSeq": -1})
        assert (await thief.error())["code"] == "invalid_field"
        # The connection is still usable (the client may start a session of its own).
        await thief.send({"type": "ping"})
        await thief.next_signal(lambda m: m["type"] == "pong")
        # Ada never noticed.
        assert ada.session_id in gw.sessions and not ada.signaling_closed.is_set()
        await ada.send({"type": "ping"})
        await ada.next_signal(lambda m: m["type"] == "pong")
        assert gw.webrtc.resume_refusals == 2
    finally:
        await thief.close()
        await ada.close()


async def test_past_the_grace_period_the_session_ends_as_dropped(
        scripted: Scripted, proxies: MakeProxy) -> None:
    gw = await scripted(resume_grace=1.5)
    proxy = await proxies(gw.url)
    ada, _ = await join(proxy.url, "Ada", 20.0)
    bo, _ = await join(gw.url, "Bo", 20.0)
    ada_id = ada.session_id
    assert ada_id is not None and ada.answer["resumeGrace"] == 1.5
    proxy.cut(seconds=60)
    await bo.next_signal(lambda m: m.get("type") == "participant_state"
                         and m["participant"].get("reconnecting") is True)
    left = await bo.next_signal(lambda m: m.get("type") == "participant_left", 10)
    assert left["participant"]["id"] == ada_id and left["reason"] == "dropped"
    await eventually(lambda: ada_id not in gw.sessions, 10, "Ada's session to end")
    # Too late: the gateway says why.
    late = GatewayClient(gw.url)
    await late.connect(resume=ada_id)
    await late.send({"type": "resume", "sessionId": ada_id,
                     "resumeToken": ada.answer["resumeToken"]})
    error = await late.error()
    assert error["code"] == "resume_failed" and error["reason"] == "session_ended"
    assert error["endedAs"] == "expired" and "grace period" in error["message"]
    await late.close()
    await bo.close()
    await ada.close()


async def test_a_resume_takes_the_session_from_a_half_open_connection(
        scripted: Scripted) -> None:
    gw = await scripted()
    ada, _ = await join(gw.url, "Ada", 8.0)
    assert ada.session_id is not None and ada.ws is not None
    old_ws = ada.ws
    assert ada._reader is not None  # keep the old socket open (never noticed dead) ...
    ada._reader.cancel()  # ... and read it here instead
    newer = GatewayClient(gw.url)
    newer.session_id, newer.answer = ada.session_id, ada.answer
    reply, _ = await reconnect(newer)
    assert reply["sessionId"] == ada.session_id
    closed = await asyncio.wait_for(_closing(old_ws), 5)
    assert closed == CLOSE_RESUMED_ELSEWHERE
    assert ada.session_id in gw.sessions  # taken over, not ended
    await newer.bye()
    await newer.close()
    await ada.close()


async def _closing(ws: object) -> int | None:
    import aiohttp

    assert isinstance(ws, aiohttp.ClientWebSocketResponse)
    async for _ in ws:
        pass
    return ws.close_code


async def test_a_full_gateway_still_takes_resumes(scripted: Scripted,
                                                  proxies: MakeProxy) -> None:
    gw = await scripted(max_sessions=2)
    proxy = await proxies(gw.url)
    ada, _ = await join(proxy.url, "Ada", 20.0)
    bo, _ = await join(gw.url, "Bo", 20.0)
    proxy.cut()
    await asyncio.wait_for(ada.signaling_closed.wait(), 5)
    extra = GatewayClient(gw.url)
    assert (await extra.connect())["code"] == "server_busy"  # full indeed
    await extra.close()
    reply, _ = await reconnect(ada)
    assert reply["sessionId"] == ada.session_id
    await ada.close()
    await bo.close()


async def test_a_lost_media_path_needs_a_new_offer(scripted: Scripted) -> None:
    gw = await scripted()
    ada, track = await join(gw.url, "Ada", 20.0)
    assert ada.pc is not None and ada.session_id is not None
    await ada.pc.close()
    error = await ada.error(timeout=15)
    assert error["code"] in ("peer_closed", "ice_failed") and error["resumable"] is True
    with pytest.raises(ResumeRefused) as refused:
        await ada.resume()
    assert refused.value.reply["code"] == "sdp_required"
    assert ada.session_id in gw.sessions
    # Same connection, now with an offer.
    reply = await _resume_here(ada, track)
    assert reply["type"] == "resumed" and reply["sdp"]
    await asyncio.wait_for(ada.connected.wait(), 10)
    await ada.bye()
    await ada.close()


async def _resume_here(client: GatewayClient, track: object) -> dict[str, object]:
    from tests.rtc_client import WavTrack

    assert isinstance(track, WavTrack)
    client.peer(track)
    assert client.pc is not None
    client._watch_connection(client.pc)
    await client.pc.setLocalDescription(await client.pc.createOffer())
    await client.send({"type": "resume", "sessionId": client.session_id,
                       "resumeToken": client.answer["resumeToken"],
                       "lastSeq": client.last_seq, "sdp": client.pc.localDescription.sdp})
    reply = await client.next_signal(lambda m: m.get("type") in ("resumed", "error"))
    from aiortc import RTCSessionDescription

    await client.pc.setRemoteDescription(RTCSessionDescription(str(reply["sdp"]), "answer"))
    return reply


async def test_clients_that_did_not_ask_are_not_resumable(scripted: Scripted) -> None:
    gw = await scripted()
    plain, _ = await join(gw.url, "Ada", 8.0, features=["presence"])
    assert "resumeToken" not in plain.answer
    assert plain.session_id is not None
    session_id = plain.session_id
    assert plain.ws is not None
    await plain.drop_signaling()
    await eventually(lambda: session_id not in gw.sessions, 10, "the session to end at once")
    await plain.close()


async def test_resume_can_be_switched_off(scripted: Scripted) -> None:
    gw = await scripted(resume_grace=0)
    ada, _ = await join(gw.url, "Ada", 8.0)
    assert "resumeToken" not in ada.answer
    await ada.close()
