"""WHIP's HTTP contract, request by request (RFC 9725, RFC 8840, RFC 9110 conditionals).

Every refusal is a problem-details body (RFC 9457) with a stable ``code``; a refused PATCH
never ends the session it was aimed at.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.observability.drain import DRAIN_KEY
from gateway.transports.whip.responses import ice_server_links
from gateway.transports.whip.routes import WHIP_KEY
from tests.conftest import RunningGateway, StartGateway

from .client import SDP, SDPFRAG, WhipClient, WhipError

SCRIPT = [ScriptedPhrase("hello from an encoder", 0.2, 1.0)]

# RFC 9725 section 4.2's own example offer: trickle (no candidates), sendonly Opus audio and
# a bundle-only VP8 video section.
RFC_OFFER = "\r\n".join([
    "v=0", "o=- 5228595038118931041 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "a=group:BUNDLE 0 1", "a=extmap-allow-mixed", "a=ice-options:trickle ice2",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:EsAw", "a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y",
    "a=fingerprint:sha-256 DA:7B:57:DC:28:CE:04:4F:31:79:85:C4:31:67:EB:27:58:29:ED:77:2A:"
    "0D:24:AE:ED:AD:30:BC:BD:F1:9C:02",
    "a=setup:actpass", "a=mid:0", "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=sendonly",
    "a=msid:d46fb922-d52a-4e9c-aa87-444eadc1521b ce326ecf-a081-453a-8f9f-0605d5ef4128",
    "a=rtcp-mux", "a=rtcp-mux-only", "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "m=video 0 UDP/TLS/RTP/SAVPF 96 97", "a=mid:1", "a=bundle-only",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid", "a=sendonly",
    "a=msid:d46fb922-d52a-4e9c-aa87-444eadc1521b 3956b460-40f4-4d05-acef-03abcdd8c6fd",
    "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96", ""])


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(recognizer=ScriptedRecognizer(SCRIPT))


async def post(gateway: RunningGateway, body: str | bytes, *, content_type: str = SDP,
               query: str = "", headers: dict[str, str] | None = None
               ) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{gateway.url}/whip{query}", data=body,
            headers={"Content-Type": content_type, **(headers or {})}) as r:
        body_out = await r.json(content_type=None) if r.content_type.endswith("json") \
            else await r.text()
        return r.status, body_out, r.headers


def assert_problem(body: Any, status: int, code: str) -> None:
    assert body["status"] == status and body["code"] == code, body
    assert body["title"] and body["detail"]


async def test_wrong_content_type_is_415_with_accept_post(gateway: RunningGateway) -> None:
    client = WhipClient(f"{gateway.url}/whip")
    try:
        sdp = await client.offer()
        status, body, headers = await post(gateway, sdp, content_type="text/plain")
        assert status == 415
        assert headers["Accept-Post"] == SDP
        assert headers["Content-Type"].startswith("application/problem+json")
        assert_problem(body, 415, "unsupported_media_type")
    finally:
        await client.close()


@pytest.mark.parametrize(("body", "status", "code"), [
    ("hello", 400, "invalid_sdp"),
    ("", 400, "invalid_sdp"),
    ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\n", 422, "no_audio"),
    ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\n", 422, "no_audio"),
    ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111"
     "\r\na=mid:1\r\n", 422, "too_many_audio_tracks"),
    # SDP aiortc cannot apply (no ICE credentials, no fingerprint): refused by aiortc.
    ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\n", 400,
     "invalid_sdp"),
    # Media sections without one a=mid each, or sharing one: refused before aiortc.
    ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\n", 400, "invalid_sdp"),
    ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=mid:1\r\na=sendonly\r\n", 400,
     "invalid_sdp"),
])
async def test_unusable_offers_are_refused_with_a_reason(
        gateway: RunningGateway, body: str, status: int, code: str) -> None:
    got, problem, _ = await post(gateway, body)
    assert got == status
    assert_problem(problem, status, code)
    assert not gateway.app[WHIP_KEY].sessions
    assert gateway.app[WHIP_KEY].admission.in_use == 0  # the refused offer holds no ticket


async def test_not_utf8_and_too_large_bodies(gateway: RunningGateway) -> None:
    status, body, _ = await post(gateway, b"v=0\r\n\xff\xfe")
    assert status == 400 and body["code"] == "bad_encoding"
    status, body, _ = await post(gateway, "v=0\r\n" + "a=x\r\n" * 20_000)
    assert status == 413 and body["code"] == "body_too_large"


async def test_the_rfc_example_offer_gets_an_answer_with_video_inactive(
        gateway: RunningGateway) -> None:
    status, answer, headers = await post(gateway, RFC_OFFER)
    assert status == 201, answer
    audio, video = answer.split("m=")[1:3]
    assert audio.startswith("audio") and "a=recvonly" in audio
    assert video.startswith("video") and "a=inactive" in video
    async with aiohttp.ClientSession() as http, \
            http.delete(gateway.url + headers["Location"]) as r:
        assert r.status == 200


@pytest.mark.parametrize(("query", "status", "code"), [
    ("?conversationId=has%20space", 400, "invalid_config"),
    ("?name=" + "x" * 300, 400, "invalid_config"),
    ("?languageCode=fr-FR", 422, "unsupported_language"),
])
async def test_bad_query_parameters_are_named(gateway: RunningGateway, query: str,
                                              status: int, code: str) -> None:
    client = WhipClient(f"{gateway.url}/whip")
    try:
        got, body, _ = await post(gateway, await client.offer(), query=query)
        assert got == status
        assert_problem(body, status, code)
    finally:
        await client.close()


async def test_patch_preconditions_and_fragments(gateway: RunningGateway) -> None:
    client = WhipClient(f"{gateway.url}/whip?conversationId=patchy")
    try:
        published = await client.publish(trickle=True)
        etag = published.etag
        assert etag is not None
        frag = "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n" \
               "a=candidate:1 1 udp 2122260223 127.0.0.1 61764 typ host\r\n"
        ufrag, pwd = published_ice(client)
        ok = frag.format(ufrag, pwd)
        cases: list[tuple[str, str | None, str, int, str | None]] = [
            (ok, None, SDPFRAG, 428, "precondition_required"),
            (ok, '"not-the-etag"', SDPFRAG, 412, "precondition_failed"),
            (ok, "W/" + etag, SDPFRAG, 412, "precondition_failed"),
            (ok, etag, "application/sdp", 415, "unsupported_media_type"),
            ("a=candidate:1 1 udp\r\n", etag, SDPFRAG, 400, "invalid_sdpfrag"),
            ("not sdp at all\r\n", etag, SDPFRAG, 400, "invalid_sdpfrag"),
            # An ICE restart (new credentials, If-Match: *) is not supported: 422, and the
            # session goes on (section 4.3.2).
            (frag.format("newU", "newpasswordnewpassword12"), "*", SDPFRAG, 422,
             "ice_restart_unsupported"),
            (ok, etag, SDPFRAG, 204, None),
            (ok, f'"other", {etag}', SDPFRAG, 204, None),
        ]
        for body, if_match, content_type, status, code in cases:
            got, problem = await client.patch(body, if_match=if_match,
                                              content_type=content_type)
            assert got == status, (body, if_match, content_type, problem)
            if code is not None:
                assert_problem(problem, status, code)
            else:
                assert problem == ""
        session = gateway.app[WHIP_KEY].sessions[published.location.rsplit("/", 1)[1]]
        assert not session._stopping and session.pc is not None
        assert session.pc.connectionState in ("connecting", "connected")
        assert await client.delete() == 200
    finally:
        await client.close()


def published_ice(client: WhipClient) -> tuple[str, str]:
    assert client.pc is not None
    sdp = client.pc.localDescription.sdp
    ufrag = next(x for x in sdp.splitlines() if x.startswith("a=ice-ufrag:")).split(":")[1]
    pwd = next(x for x in sdp.splitlines() if x.startswith("a=ice-pwd:")).split(":")[1]
    return ufrag, pwd


async def test_unknown_resources_methods_and_options(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession() as http:
        for method in ("PATCH", "DELETE", "GET"):
            async with http.request(method, f"{gateway.url}/whip/nope",
                                    headers={"Content-Type": SDPFRAG, "If-Match": "*"}) as r:
                assert r.status == 404, method
                assert (await r.json(content_type=None))["code"] == "unknown_session"
        async with http.put(f"{gateway.url}/whip", data="x") as r:
            assert r.status == 405 and "POST" in r.headers["Allow"]
        async with http.post(f"{gateway.url}/whip/some-id", data="x") as r:
            assert r.status == 405
        async with http.get(f"{gateway.url}/whip") as r:
            assert r.status == 204
        async with http.options(f"{gateway.url}/whip", headers={
                "Origin": "https://studio.example", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type"}) as r:
            assert r.status == 200
            assert r.headers["Accept-Post"] == SDP
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "POST" in r.headers["Access-Control-Allow-Methods"]
            assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
            assert "Location" in r.headers["Access-Control-Expose-Headers"]
        async with http.options(f"{gateway.url}/whip/any") as r:
            assert r.status == 200 and r.headers["Accept-Patch"] == SDPFRAG


def test_ice_servers_become_link_headers() -> None:
    links = ice_server_links([
        {"urls": ["stun:stun.example.net"]},
        {"urls": "turn:turn.example.net?transport=udp", "username": "1:u",
         "credential": 'p"w'}])
    assert links == [
        '<stun:stun.example.net>; rel="ice-server"',
        '<turn:turn.example.net?transport=udp>; rel="ice-server"; username="1:u"; '
        'credential="p\\"w"; credential-type="password"']


async def test_busy_draining_and_full_conversations(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(recognizer=ScriptedRecognizer(SCRIPT), max_sessions=2,
                                  max_participants=1)
    first = WhipClient(f"{gateway.url}/whip?conversationId=solo")
    second = WhipClient(f"{gateway.url}/whip?conversationId=solo")
    third = WhipClient(f"{gateway.url}/whip")
    fourth = WhipClient(f"{gateway.url}/whip")
    try:
        await first.publish()
        with pytest.raises(WhipError) as full:
            await second.publish()
        assert full.value.status == 409
        assert isinstance(full.value.body, dict)
        assert full.value.body["code"] == "conversation_full"
        assert gateway.app[WHIP_KEY].admission.in_use == 1  # the refused one left no ticket
        await third.publish()
        with pytest.raises(WhipError) as busy:
            await fourth.publish()
        assert busy.value.status == 503 and busy.value.headers["Retry-After"] == "5"
        assert isinstance(busy.value.body, dict) and busy.value.body["code"] == "server_busy"
        drain = asyncio.ensure_future(gateway.app[DRAIN_KEY].run(30))
        await asyncio.sleep(0.1)
        with pytest.raises(WhipError) as draining:
            await fourth.publish()
        assert draining.value.status == 503
        assert isinstance(draining.value.body, dict)
        assert draining.value.body["code"] == "shutting_down"
        assert await first.delete() == 200
        assert await third.delete() == 200
        assert await asyncio.wait_for(drain, 10) == 0
    finally:
        for client in (first, second, third, fourth):
            await client.close()
