"""The call page when its node drains before shutdown: real Chromium, real gateways.

A single node: the gateway drains (SIGTERM's first step) and tells the page ``reconnect``.
The page says "The server is restarting; reconnecting…" and keeps the call (audio and
results go on) while it looks for a node that takes calls; none does (the only node refuses
with ``shutting_down``). When the node goes away the page keeps trying, and when a gateway
is back at the same address it joins the same conversation again and says "Reconnected.".
The page reaches the gateways through a TCP proxy, so "the same address" survives the
restart (WebRTC media goes to each gateway's own candidates directly).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import pytest

from gateway.observability.drain import DRAIN_KEY
from tests.conftest import RunningGateway
from tests.e2e.calls import join
from tests.e2e.support import LaunchBrowser, MakeSpeech
from tests.e2e.test_browser import wait_js
from tests.resume.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

SAYS = ("Hello everyone, thanks for joining the meeting today.",
        "Please call the customer tomorrow morning.",
        "What time is the meeting tomorrow?")


async def note(page: Any) -> str:
    return str(await page.locator("#connection-note").inner_text())


async def test_the_page_keeps_its_call_through_a_drain_and_rejoins_after_the_restart(
        start_gateway: Any, launch_browser: LaunchBrowser, make_speech: MakeSpeech) -> None:
    first: RunningGateway = await start_gateway()
    proxy = await TcpProxy.to(first.url)
    try:
        browser = await launch_browser(make_speech(*SAYS, lead=0.5, gap=1.0, tail=1.0))
        page = await join(browser, proxy.url, "Ada")
        before: dict[str, Any] = await page.evaluate("window.gateway")
        old_session, conversation = before["sessionId"], before["conversationId"]
        await wait_js(page, "() => window.gateway.finals.length >= 1", timeout=60)

        drain = asyncio.ensure_future(first.app[DRAIN_KEY].run(6.0))
        await wait_js(page, "() => window.gateway.draining", timeout=10)
        assert (await note(page)).startswith("The server is restarting; reconnecting…")
        assert "The server is restarting; reconnecting…" in \
            await page.locator("#status").inner_text()
        await page.screenshot(path="/tmp/e2e-drain-desktop.png")
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.screenshot(path="/tmp/e2e-drain-phone.png")
        await page.set_viewport_size({"width": 1280, "height": 900})
        # The call goes on on the draining node: it still answers, results still arrive.
        finals = len(await page.evaluate("window.gateway.finals"))
        await wait_js(page, "(n) => window.gateway.finals.length > n", arg=finals, timeout=30)
        state = await page.evaluate("window.gateway")
        assert state["state"] == "connected" and state["peer"] == "connected"
        assert state["sessionId"] == old_session and not state["moves"]
        assert len(first.sessions) == 1  # it looked elsewhere, found nobody, and stayed

        assert await drain == 1
        await first.runner.cleanup()  # the ordinary shutdown ends the call here
        await wait_js(page, "() => window.gateway.reconnecting", timeout=10)
        assert (await note(page)).startswith("The server is restarting; reconnecting…")
        assert await page.evaluate("window.gateway.state") == "connected"  # not failed
        await asyncio.sleep(2.0)  # nobody there for a while: the page keeps trying

        second: RunningGateway = await start_gateway()
        target = urlsplit(second.url)
        proxy.target = (target.hostname or "127.0.0.1", int(target.port or 80))
        await wait_js(page, "() => window.gateway.moves.length === 1", timeout=30)
        after: dict[str, Any] = await page.evaluate("window.gateway")
        assert after["sessionId"] != old_session and not after["draining"]
        assert after["conversationId"] == conversation
        assert list(second.sessions) == [after["sessionId"]]
        session = second.sessions[after["sessionId"]]
        assert session.member is not None and session.member.conversation.id == conversation
        assert (await note(page)).startswith("Reconnected")
        await wait_js(page, "() => window.gateway.peer === 'connected'", timeout=20)
        assert not [e for e in after["errors"] if e["code"] not in ("shutting_down",)]
    finally:
        await proxy.close()
