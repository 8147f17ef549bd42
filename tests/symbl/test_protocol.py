"""Symbl's streaming protocol over a real socket: greeting, results, stop, tokens, options.

Each test talks to a real gateway on loopback (scripted recognizer) the way Symbl's
reference and SDKs do, and checks the exact messages and their order.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gateway.config import SessionSettings
from gateway.http.keys import ADMISSION_KEY
from tests.support import symbl_client as client
from tests.support.speech import SpeechSample
from tests.support.symbl_client import Socket, finals, kind_of, kinds, silence, start_request
from tests.symbl.conftest import SCRIPT, StartSymbl, SymblGateway, eventually

FOUR_SECONDS = silence(4.0)  # past the first two scripted phrases


async def test_a_whole_session_in_symbl_order(symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url, "dXNlckBleGFtcGxlLmNvbQ==", query="access_token=t")
    await ws.send(start_request(insightTypes=["question", "action_item"],
                                speaker={"userId": "jane@example.com", "name": "Jane"}))
    for frame in FOUR_SECONDS:  # at once: no need to wait for an answer
        await ws.send(frame)
    await ws.send({"type": "stop_request"})
    got = await ws.rest()
    await ws.close()
    names = kinds(got)
    assert names[:3] == ["started_listening", "conversation_created", "recognition_started"]
    cid = got[1]["message"]["data"]["conversationId"]
    assert got[2]["message"]["data"]["conversationId"] == cid
    assert finals(got) == [p.text for p in SCRIPT[:2]]
    # After the results: conversation_completed, then recognition_stopped, then the close.
    assert names[-2:] == ["conversation_completed", "recognition_stopped"]
    completed = got[-2]["message"]
    assert completed["conversationId"] == completed["data"]["conversationId"] == cid
    assert ws.close_code == 1000
    final = next(m for m in got if kind_of(m) == "recognition_result" and m["message"]["isFinal"])
    assert final["message"]["user"]["userId"] == "jane@example.com"
    (insight,) = [i for m in got if m["type"] == "insight_response" for i in m["insights"]]
    assert insight["type"] == "action_item"
    assert insight["text"] == "Can you send me the report by Friday?"
    # Only JSON, no lifecycle events of the gateway's own, no duplicated notices.
    assert all(isinstance(m, dict) for m in got)
    assert not {"conversation_started", "participant_joined", "participant_left",
                "conversation_ended"} & set(names)
    assert names.count("recognition_started") == names.count("conversation_created") == 1
    assert names.count("recognition_stopped") == 1
    # Nothing left behind.
    await eventually(lambda: not symbl.transport.sessions)
    assert not symbl.gw.directory.conversations and not symbl.gw.bus.conversations()
    assert symbl.gw.app[ADMISSION_KEY].in_use == 0


@pytest.mark.parametrize("path", ["/v1/streaming", "/v1/realtime/insights"])
async def test_audio_before_recognition_started_is_kept(symbl: SymblGateway, path: str) -> None:
    """Start, audio and stop in one burst: every sample reaches the recognizer, offsets
    are the running sample count from 0."""
    ws = await Socket.open(symbl.url, path=path)
    frames = silence(3.1, frame_bytes=1001)  # odd sizes: samples split across frames
    await ws.send(start_request())
    for frame in frames:
        await ws.send(frame)
    await ws.send({"type": "stop_request"})
    got = await ws.rest()
    await ws.close()
    assert finals(got) == [p.text for p in SCRIPT[:2]]
    (stream,) = symbl.recognizer.streams
    assert stream.chunks[0].offset == 0
    assert sum(c.samples for c in stream.chunks) == sum(len(f) for f in frames) // 2
    for before, after in zip(stream.chunks, stream.chunks[1:], strict=False):
        assert after.offset == before.offset + before.samples


@pytest.mark.parametrize("auth", ["query", "x-api-key", "bearer", "subprotocol", "none"])
async def test_every_token_form_is_accepted(symbl: SymblGateway, auth: str) -> None:
    async with client.aiohttp.ClientSession() as http:
        token = await client.fetch_token(http, symbl.url)
    query = ""
    headers: dict[str, str] = {}
    protocols: tuple[str, ...] = ()
    if auth == "query":
        query = f"access_token={token}"
    elif auth == "x-api-key":
        headers = {"X-API-KEY": token}
    elif auth == "bearer":
        headers = {"Authorization": f"Bearer {token}"}
    elif auth == "subprotocol":
        protocols = (token,)
    ws = await Socket.open(symbl.url, query=query, headers=headers, protocols=protocols)
    if auth == "subprotocol":  # a browser fails the handshake unless it is echoed
        assert ws.ws.protocol == token
    await ws.send(start_request())
    assert kind_of(await ws.next()) == "started_listening"
    await ws.close()


async def test_an_opaque_subprotocol_token_is_echoed_too(symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url, protocols=("not-a-jwt-token",))
    assert ws.ws.protocol == "not-a-jwt-token"
    await ws.close()


async def test_ping_text_gets_pong_text(symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url)
    await ws.send("__PING__")
    assert await ws.next() == "__PONG__"
    await ws.send(start_request())
    await ws.notice("recognition_started")
    await ws.send("__PING__")
    assert await ws.until(lambda m: isinstance(m, str)) == "__PONG__"
    await ws.close()


async def test_python_sdk_stop_and_null_fields(symbl: SymblGateway) -> None:
    """The Python SDK sends ``"speaker": null``, ``"trackers": null`` and stops with
    ``str(dict)``; the Go SDK sends ``noConnectionTimeout: true``."""
    ws = await Socket.open(symbl.url, headers={"X-API-KEY": "token"})
    await ws.send(start_request(speaker=None, trackers=None, insightTypes=None,
                                noConnectionTimeout=True))
    await ws.notice("recognition_started")
    for frame in silence(1.3):
        await ws.send(frame)
    await ws.send(str({"type": "stop_request"}))
    got = await ws.rest()
    await ws.close()
    assert finals(got) == [SCRIPT[0].text]
    assert kinds(got)[-2:] == ["conversation_completed", "recognition_stopped"]


async def test_insights_only_when_asked_as_on_symbl(symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url)
    await ws.send(start_request(config={"confidenceThreshold": 0.0}))  # no insightTypes
    for frame in FOUR_SECONDS:
        await ws.send(frame)
    await ws.send({"type": "stop_request"})
    got = await ws.rest()
    await ws.close()
    assert len(finals(got)) == 2
    assert "insight_response" not in kinds(got)


async def test_trackers_and_topic_in_insight_types(symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url)
    await ws.send(start_request(insightTypes=["topic", "question", "follow_up"],
                                trackers=[{"name": "Reports", "vocabulary": ["report"]}],
                                config={"speechRecognition": {"encoding": "linear16"},
                                        "timezoneOffset": 480, "meetingTitle": "Weekly"}))
    for frame in FOUR_SECONDS:
        await ws.send(frame)
    await ws.send({"type": "stop_request"})
    got = await ws.rest()
    await ws.close()
    trackers = [t for m in got if m["type"] == "tracker_response" for t in m["trackers"]]
    assert [t["name"] for t in trackers] == ["Reports"]


async def test_stay_open_after_stop_and_resume_on_the_same_socket(symbl: SymblGateway) -> None:
    """``disconnectOnStopRequest: false``: stop says goodbye but keeps the socket; a new
    start_request continues the same conversation, the pause being silence on its clock."""
    ws = await Socket.open(symbl.url)
    await ws.send(start_request(disconnectOnStopRequest=False))
    for frame in silence(1.3):
        await ws.send(frame)
    await ws.send({"type": "stop_request"})
    first = [await ws.notice("conversation_completed")]
    stopped = await ws.next()
    assert kind_of(stopped) == "recognition_stopped"
    cid = first[0]["message"]["conversationId"]
    await asyncio.sleep(2.0)  # paused: the wall clock passes the 1.3 s streamed so far
    await ws.send(start_request())
    greeting = [await ws.next() for _ in range(3)]
    assert kinds(greeting) == ["started_listening", "conversation_created",
                               "recognition_started"]
    assert greeting[1]["message"]["data"]["conversationId"] == cid
    for frame in silence(2.0):
        await ws.send(frame)
    await ws.send({"type": "stop_request"})
    got = await ws.rest()
    await ws.close()
    assert finals(ws.received)[:2] == [p.text for p in SCRIPT[:2]]
    assert kinds(got)[-2:] == ["conversation_completed", "recognition_stopped"]
    (stream,) = symbl.recognizer.streams  # one stream throughout: it was never closed early
    gaps = [b.offset - (a.offset + a.samples)
            for a, b in zip(stream.chunks, stream.chunks[1:], strict=False)]
    assert max(gaps) >= 0.6 * 16000  # the pause is silence on the stream's clock
    assert sorted(gaps)[-2] == 0  # and only the pause


async def test_idle_after_stop_closes_after_the_asked_timeout(symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url)
    await ws.send(start_request(disconnectOnStopRequest=False,
                                disconnectOnStopRequestTimeout=0.5))
    await ws.send({"type": "stop_request"})
    got = await ws.rest(timeout=5)
    await ws.close()
    assert kinds(got)[-2:] == ["conversation_completed", "recognition_stopped"]
    assert kinds(got).count("conversation_completed") == 1  # said once, at the stop
    assert ws.close_code == 1000
    await eventually(lambda: not symbl.transport.sessions)


async def test_stop_timeout_zero_closes_at_stop(symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url)
    await ws.send(start_request(disconnectOnStopRequest=False,
                                disconnectOnStopRequestTimeout=0))
    await ws.send({"type": "stop_request"})
    got = await ws.rest(timeout=5)
    await ws.close()
    assert kinds(got)[-1] == "recognition_stopped" and ws.close_code == 1000


async def test_modify_request_changes_the_rate_mid_stream(symbl: SymblGateway) -> None:
    """1.3 s at 16 kHz, then 2 s declared at 8 kHz: the clock counts 16 kHz samples."""
    ws = await Socket.open(symbl.url)
    await ws.send(start_request())
    for frame in silence(1.3):
        await ws.send(frame)
    await ws.send({"type": "modify_request",
                   "speechRecognition": {"encoding": "LINEAR16", "sampleRateHertz": 8000}})
    modified = await ws.notice("session_modified")
    assert modified["message"]["data"]["speechRecognition"]["sampleRateHertz"] == 8000
    for frame in silence(2.0, rate=8000):
        await ws.send(frame)
    await ws.send({"type": "stop_request"})
    await ws.rest()
    await ws.close()
    assert finals(ws.received) == [p.text for p in SCRIPT[:2]]
    (stream,) = symbl.recognizer.streams
    assert abs(sum(c.samples for c in stream.chunks) - 3.3 * 16000) < 64


async def test_language_other_than_the_models_is_refused_and_the_socket_stays(
        symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url)
    await ws.send(start_request(config={"languageCode": "de-DE"}))
    error = await ws.next()
    assert error["type"] == "error" and error["code"] == "unsupported_language"
    await ws.send(start_request(config={"languageCode": "en-US"}))
    assert kind_of(await ws.next()) == "started_listening"
    await ws.close()


async def test_no_start_request_in_time_is_told_and_closed(start_symbl: StartSymbl) -> None:
    symbl = await start_symbl(settings=SessionSettings(offer_timeout=0.5))
    ws = await Socket.open(symbl.url)
    got = await ws.rest(timeout=5)
    await ws.close()
    assert [m["code"] for m in got] == ["start_timeout"] and ws.close_code == 1008
    await eventually(lambda: not symbl.transport.sessions)
    assert symbl.gw.app[ADMISSION_KEY].in_use == 0


async def test_shutdown_flushes_open_connections(start_symbl: StartSymbl) -> None:
    """A gateway going down gives each socket its last final and the farewell, then 1001."""
    symbl = await start_symbl()
    ws = await Socket.open(symbl.url)
    await ws.send(start_request())
    for frame in silence(2.5):  # mid-way through the second phrase
        await ws.send(frame)
    await ws.until(lambda m: kind_of(m) == "recognition_result" and m["message"]["isFinal"])
    stopping = asyncio.ensure_future(symbl.gw.runner.cleanup())  # the client keeps reading
    got = await ws.rest()
    await stopping
    await ws.close()
    assert finals(ws.received) == [SCRIPT[0].text, "can you send me the report"]
    assert kinds(got)[-2:] == ["conversation_completed", "recognition_stopped"]
    assert ws.close_code == 1001


async def test_every_frame_is_json_except_pong(symbl: SymblGateway) -> None:
    ws = await Socket.open(symbl.url)
    await ws.send(start_request(insightTypes=["question", "action_item", "follow_up"]))
    for frame in FOUR_SECONDS:
        await ws.send(frame)
    await ws.send({"type": "stop_request"})
    await ws.rest()
    await ws.close()
    # Socket.next keeps a frame that is not JSON as a str: every frame parsed as an object.
    assert len(ws.received) > 10
    assert all(isinstance(m, dict) and isinstance(m.get("type"), str) for m in ws.received)


async def test_a_silent_stream_is_ended_after_the_limit(symbl: SymblGateway) -> None:
    """Symbl: "If a meeting is silent for more than 30 minutes, it will be automatically
    terminated" (the limit is shortened here)."""
    symbl.transport.silence_limit = 0.5
    ws = await Socket.open(symbl.url)
    await ws.send(start_request())
    for frame in silence(1.3):
        await ws.send(frame)
    got = await ws.rest(timeout=10)
    await ws.close()
    assert finals(got) == [SCRIPT[0].text]
    codes = [m["code"] for m in got if m["type"] == "error"]
    assert codes == ["silence_timeout"]
    assert kinds(got)[-2:] == ["conversation_completed", "recognition_stopped"]
    assert ws.close_code == 1000


async def test_wrapped_around_samples_break_nothing(symbl: SymblGateway) -> None:
    """Symbl's browser loop on a loud microphone: values below -1 wrap around in the
    Int16Array. Full-scale noise at 3x gain, 48 kHz, 1024-sample buffers."""
    noise = np.random.default_rng(1).integers(-32768, 32767, 48000 * 3, dtype=np.int16)
    frames = client.browser_linear16(SpeechSample(noise, 48000), 48000, gain=3.0)
    wrapped = np.frombuffer(b"".join(f for f, _ in frames), "<i2")
    assert (wrapped > 0).sum() > 0.6 * len(wrapped)  # the negative peaks came back positive
    ws = await Socket.open(symbl.url)
    await ws.send(start_request("LINEAR16", 48000))
    for frame, _ in frames:
        await ws.send(frame)
    await ws.send({"type": "stop_request"})
    got = await ws.rest()
    await ws.close()
    assert not [m for m in got if m["type"] == "error"]
    assert finals(got) == [p.text for p in SCRIPT[:2]]
    (stream,) = symbl.recognizer.streams
    assert abs(sum(c.samples for c in stream.chunks) - 3 * 16000) < 64
