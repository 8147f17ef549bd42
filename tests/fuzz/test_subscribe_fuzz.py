"""Hostile consoles on ``/subscribe/{conversationId}``: generated ids and tokens.

With access control on, each attempt gets 400 (an id the docs do not allow) or 404 (a path
the route does not match) before the upgrade, or the socket with either ``subscribed`` (a
valid id and an agent's token) or one ``error`` frame and close 1008 (a wrong or missing
token) — never a 500 — and the healthy call beside them keeps its results.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.auth import Role
from gateway.conversation.start_config import CONVERSATION_ID
from tests.access.support import Apps, token
from tests.conftest import RunningGateway, StartGateway

from .healthy import HealthyCall, steady_recognizer
from .strategies import fuzz_settings, server_errors

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=40)
SUBSCRIBED = "subscribed"
REFUSED = "refused"


@dataclass
class Closed:
    """A gateway with access control on, an agent's token and a service's token."""

    gateway: RunningGateway
    agent: str
    service: str


@pytest.fixture
async def closed(start_gateway: StartGateway, tmp_path: Path) -> Closed:
    apps = Apps.create(tmp_path)
    agent, service = await apps.add(Role.AGENT), await apps.add(Role.SERVICE)
    gateway = await start_gateway(config=apps.config(), recognizer=steady_recognizer())
    async with aiohttp.ClientSession() as http:
        return Closed(gateway, await token(http, gateway.url, agent),
                      await token(http, gateway.url, service))


@pytest.fixture
async def healthy(closed: Closed) -> AsyncIterator[HealthyCall]:
    call = HealthyCall(closed.gateway.url, access_token=closed.service)
    await call.start()
    yield call
    await call.finish()


async def attempt(gateway: RunningGateway, path: str, headers: dict[str, str]) -> int | str:
    """The HTTP status of a refused handshake, or what the socket said first."""
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(gateway.url.replace("http", "ws", 1) + path,
                                       headers=headers, timeout=aiohttp.ClientWSTimeout(10))
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        first = await ws.receive_json(timeout=10)
        if first["type"] == "error":
            closing = await ws.receive(timeout=10)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == 1008 and first["code"]
            return REFUSED
        await ws.close()
        return str(first["type"])


@fuzz_settings(60, network=True)
@given(conversation=st.text(max_size=140) | st.sampled_from(["healthy", "a" * 128, "a" * 129,
                                                             "..", "x/y", "%2F"]),
       presented=st.none() | header_text | st.just("AGENT"),
       in_query=st.booleans())
async def test_ids_and_tokens(closed: Closed, healthy: HealthyCall, conversation: str,
                              presented: str | None, in_query: bool) -> None:
    path = "/subscribe/" + quote(conversation, safe="")
    headers: dict[str, str] = {}
    given_token = closed.agent if presented == "AGENT" else presented
    if given_token is not None:
        if in_query:
            path += "?access_token=" + quote(given_token, safe="")
        else:
            headers["Authorization"] = f"Bearer {given_token}"
    if conversation in (".", ".."):
        return  # the client normalises these path segments away: another URL altogether
    answer = await attempt(closed.gateway, path, headers)
    if not conversation or "/" in conversation:
        assert answer in (400, 404)  # not one path segment: another route, or none
    elif not CONVERSATION_ID.match(conversation):
        assert answer == 400
    elif presented != "AGENT":
        assert answer == REFUSED
    else:
        assert answer == SUBSCRIBED


async def test_a_watched_healthy_call_still_flows(closed: Closed,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    healthy = HealthyCall(closed.gateway.url, access_token=closed.service)
    await healthy.start()
    for bad in ("", "wrong", closed.agent + "x", closed.agent[:-1]):
        assert await attempt(closed.gateway, "/subscribe/healthy",
                             {"Authorization": f"Bearer {bad}"}) == REFUSED
    assert await attempt(closed.gateway, "/subscribe/healthy",
                         {"Authorization": f"Bearer {closed.agent}"}) == SUBSCRIBED
    await healthy.finish()
    assert not server_errors(caplog.records)
