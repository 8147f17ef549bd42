"""Hostile WHIP clients: generated offers, content types, query strings, fragments and
conditional headers against one gateway, with a healthy call beside them.

Every answer is one of the statuses docs/whip.md lists, with a problem body for errors;
none is a 500, and the sessions a fuzzer managed to create go away with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.transports.whip.routes import WHIP_KEY
from tests.conftest import RunningGateway, StartGateway
from tests.whip.client import SDP, SDPFRAG, WhipClient

from .healthy import HealthyCall, steady_recognizer
from .strategies import SDP_LINES, fuzz_settings, mutated, sdp_texts, server_errors

POST_STATUSES = {201, 400, 409, 413, 415, 422, 503}
PATCH_STATUSES = {204, 400, 412, 413, 415, 422, 428}
content_types = st.sampled_from([SDP, SDP, SDPFRAG, "text/plain", "application/json",
                                 "application/sdp; charset=utf-8", "", "multipart/form-data"])
queries = st.dictionaries(st.sampled_from(["conversationId", "meetingTitle", "languageCode",
                                           "name", "userId", "x"]), st.text(max_size=40),
                          max_size=4)


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(recognizer=steady_recognizer(), max_sessions=100)


@pytest.fixture
async def healthy(gateway: RunningGateway) -> AsyncIterator[HealthyCall]:
    call = HealthyCall(gateway.url)
    await call.start()
    yield call
    await call.finish()


async def whip_offer_lines() -> list[str]:
    client = WhipClient("http://unused/whip")
    try:
        return (await client.offer()).splitlines()
    finally:
        await client.close()


@fuzz_settings(60, network=True)
@given(data=st.data(), content_type=content_types, query=queries)
async def test_posts(gateway: RunningGateway, healthy: HealthyCall, data: st.DataObject,
                     content_type: str, query: dict[str, str]) -> None:
    body = data.draw(mutated(await whip_offer_lines()) | sdp_texts)
    url = f"{gateway.url}/whip?{urlencode(query)}"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=body.encode(), headers={"Content-Type": content_type}
                             if content_type else {}) as r:
            assert r.status in POST_STATUSES, (r.status, await r.text())
            if r.status == 201:
                assert r.headers["Content-Type"].startswith(SDP)
                async with http.delete(gateway.url + r.headers["Location"]) as gone:
                    assert gone.status == 200
            else:
                problem = await r.json(content_type=None)
                assert problem["status"] == r.status and problem["code"] and problem["detail"]
    assert not gateway.app[WHIP_KEY].sessions


fragments = st.lists(st.sampled_from(
    SDP_LINES + ["a=ice-ufrag:EsAw", "a=candidate:1 1 udp 2122260223 10.0.0.1 9 typ host",
                 "a=candidate:2 1 tcp 1 10.0.0.1 9 typ host tcptype active",
                 "a=candidate:3 1 udp 1 some-host.local 9 typ host",
                 "a=candidate:4 1 udp 1 not-an-address 9 typ host"])
    | st.text(max_size=50), max_size=12).map("\r\n".join)


@fuzz_settings(60, network=True)
@given(body=fragments, content_type=content_types,
       if_match=st.none() | st.just("etag") | st.just("*") | st.text(max_size=20))
async def test_patches(gateway: RunningGateway, healthy: HealthyCall, body: str,
                       content_type: str, if_match: str | None) -> None:
    client = WhipClient(f"{gateway.url}/whip")
    try:
        published = await client.publish()
        header = published.etag if if_match == "etag" else if_match
        if header is not None and not header.isprintable():
            header = None
        status, problem = await client.patch(body, if_match=header,
                                             content_type=content_type or "text/plain")
        assert status in PATCH_STATUSES, (status, problem)
        if status != 204:
            assert isinstance(problem, dict) and problem["code"]
        assert await client.delete() == 200  # the PATCH, whatever it was, left it running
    finally:
        await client.close()


async def test_the_healthy_call_outlives_whip_fuzzing(
        gateway: RunningGateway, caplog: pytest.LogCaptureFixture) -> None:
    healthy = HealthyCall(gateway.url)
    await healthy.start()
    lines = await whip_offer_lines()

    @fuzz_settings(15, network=True)
    @given(offer=mutated(lines), body=fragments)
    def collect(offer: str, body: str) -> None:
        cases.append((offer, body))

    cases: list[tuple[str, str]] = []
    collect()
    async with aiohttp.ClientSession() as http:
        for offer, body in cases:
            async with http.post(f"{gateway.url}/whip", data=offer.encode(),
                                 headers={"Content-Type": SDP}) as r:
                assert r.status in POST_STATUSES
                if r.status != 201:
                    continue
                location, etag = gateway.url + r.headers["Location"], r.headers["ETag"]
            async with http.patch(location, data=body.encode(),
                                  headers={"Content-Type": SDPFRAG, "If-Match": etag}) as p:
                assert p.status in PATCH_STATUSES
            async with http.delete(location) as d:
                assert d.status == 200
    await healthy.finish()
    assert not gateway.app[WHIP_KEY].sessions
    assert not server_errors(caplog.records)
