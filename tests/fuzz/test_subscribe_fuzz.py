"""Hostile consoles on ``/subscribe/{conversationId}``: generated ids and tokens.

Each attempt gets 101 (a valid id and the token), 400 (an id the docs do not allow), 401
(a wrong or missing token) or 404 (a path the route does not match) — never a 500 — and
the healthy call beside them keeps its results.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.conversation.start_config import CONVERSATION_ID
from tests.conftest import RunningGateway, StartGateway

from .healthy import HealthyCall, steady_recognizer
from .strategies import fuzz_settings, server_errors

TOKEN = "console-token"
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=40)


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(recognizer=steady_recognizer(), subscribe_token=TOKEN)


@pytest.fixture
async def healthy(gateway: RunningGateway) -> AsyncIterator[HealthyCall]:
    call = HealthyCall(gateway.url)
    await call.start()
    yield call
    await call.finish()


async def attempt(gateway: RunningGateway, path: str, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(gateway.url.replace("http", "ws", 1) + path,
                                       headers=headers, timeout=aiohttp.ClientWSTimeout(10))
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        status = 101
        await ws.close()
        return status


@fuzz_settings(60, network=True)
@given(conversation=st.text(max_size=140) | st.sampled_from(["healthy", "a" * 128, "a" * 129,
                                                             "..", "x/y", "%2F"]),
       token=st.none() | header_text | st.just(TOKEN),
       in_query=st.booleans())
async def test_ids_and_tokens(gateway: RunningGateway, healthy: HealthyCall,
                              conversation: str, token: str | None, in_query: bool) -> None:
    path = "/subscribe/" + quote(conversation, safe="")
    headers: dict[str, str] = {}
    if token is not None:
        if in_query:
            path += "?access_token=" + quote(token, safe="")
        else:
            headers["Authorization"] = f"Bearer {token}"
    if conversation in (".", ".."):
        return  # the client normalises these path segments away: another URL altogether
    status = await attempt(gateway, path, headers)
    if not conversation or "/" in conversation:
        assert status in (400, 404)  # not one path segment: another route, or none
    elif not CONVERSATION_ID.match(conversation):
        assert status == 400
    elif token != TOKEN:
        assert status == 401
    else:
        assert status == 101


async def test_a_watched_healthy_call_still_flows(gateway: RunningGateway,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    healthy = HealthyCall(gateway.url)
    await healthy.start()
    for token in ("", "wrong", TOKEN + "x", TOKEN[:-1]):
        assert await attempt(gateway, "/subscribe/healthy",
                             {"Authorization": f"Bearer {token}"}) == 401
    await healthy.finish()
    assert not server_errors(caplog.records)
