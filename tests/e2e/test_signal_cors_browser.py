"""A page of one node signalling over HTTP to another node on its own origin, in Chromium.

After a cluster redirect to a node on its own host name, a page whose WebSockets are
blocked reaches that node's ``/signal`` with ``fetch``. The browser allows it only when the
page's Content-Security-Policy names the node (``connect-src``) and the node answers the
preflight and every response with CORS headers for the page's origin. Both come from the
nodes trusting each other's origins (``OriginPolicy.trust``, which the cluster feeds with
its live nodes' URLs; here fed directly). A gateway outside the cluster stays out of reach.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import numpy as np
import pytest

from gateway.auth import ACCESS_KEY
from tests.e2e.support import LaunchBrowser
from tests.support.speech import SpeechSample

pytestmark = pytest.mark.slow

SIGNAL = """async (wsUrl) => {
  try {
    const { conn, hello } = await window.CallSignal.open(wsUrl, { http: true });
    const pong = new Promise((resolve) => { conn.onmessage = (m) => {
      if (m.type === "pong") resolve(m); }; });
    conn.send({ type: "ping" });
    const answer = await Promise.race([pong, new Promise((r) => setTimeout(() => r(null), 5000))]);
    conn.close();
    return { hello: hello.type, kind: conn.kind, pong: answer && answer.type };
  } catch (err) {
    return { error: String(err.code || err.message || err) };
  }
}"""


async def test_http_signaling_to_another_origin_needs_it_allowed(
        start_gateway: Any, launch_browser: LaunchBrowser, tmp_path: Any) -> None:
    home = await start_gateway(insights=False)
    other = await start_gateway(insights=False)
    stranger = await start_gateway(insights=False)
    # Two nodes of one cluster: each trusts the other's --node-url origin. (The page may
    # also connect to "stranger", but stranger does not allow the page's origin.)
    home.app[ACCESS_KEY].origins.trust(lambda: [other.url, stranger.url])
    other.app[ACCESS_KEY].origins.trust(lambda: [home.url])
    wav = tmp_path / "silence.wav"
    SpeechSample(np.zeros(48_000 * 2, np.int16), 48_000).write(wav)
    browser = await launch_browser(wav)
    page = browser.page
    response = await page.goto(home.url)
    assert other.url in response.headers["content-security-policy"]
    await page.wait_for_function("() => window.CallSignal && window.gateway")

    ws = other.url.replace("http", "ws", 1) + "/ws"
    got = await page.evaluate(SIGNAL, ws)
    assert got == {"hello": "hello", "kind": "http", "pong": "pong"}, (got, browser.console)

    got = await page.evaluate(SIGNAL, stranger.url.replace("http", "ws", 1) + "/ws")
    assert "error" in got, got  # no CORS answer: the browser keeps it from the page
    assert any("CORS" in line for line in browser.console), browser.console

    # What the browser was told, pinned: the preflight, and a refused origin.
    async with aiohttp.ClientSession() as http:
        headers = {"Origin": home.url, "Access-Control-Request-Method": "POST",
                   "Access-Control-Request-Headers": "content-type,x-signal-connection"}
        async with http.options(f"{other.url}/signal", headers=headers) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == home.url
            allowed = r.headers["Access-Control-Allow-Headers"].lower()
            assert "x-signal-connection" in allowed and "x-signal-secret" in allowed
        async with http.options(f"{stranger.url}/signal/open", headers=headers) as r:
            assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
