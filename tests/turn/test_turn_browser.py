"""Headless Chromium, relay-only through the test coturn, to an aiortc peer (no gateway).

This isolates the TURN path the gateway relies on: the browser gathers only relay candidates
with credentials from ``browser_ice_servers``, aiortc answers relay-only with
``gateway_rtc_configuration``, and a data channel carries messages both ways. The full
gateway-and-transcripts version lives with the gateway's browser tests.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.e2e.support import HEADLESS_FLAGS
from turn.coturn import CoturnProcess
from turn.ice import IceSettings, browser_ice_servers, candidate_types, gateway_rtc_configuration
from turn.mdns import strip_mdns_candidates

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = HEADLESS_FLAGS

OFFER_JS = """
async (config) => {
  const pc = new RTCPeerConnection(config);
  window.pc = pc;
  window.received = [];
  const channel = pc.createDataChannel("selftest");
  window.channel = channel;
  channel.onmessage = (event) => window.received.push(event.data);
  const gathered = new Promise((resolve) => {
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered;
  return pc.localDescription.sdp;
}
"""


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    playwright_api = pytest.importorskip("playwright.async_api")
    profile = tempfile.mkdtemp(prefix="turn-chromium-")
    async with playwright_api.async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            user_data_dir=profile, executable_path=CHROMIUM, headless=False, args=FLAGS
        )
        try:
            yield context.pages[0] if context.pages else await context.new_page()
        finally:
            await context.close()
    shutil.rmtree(profile, ignore_errors=True)


async def test_chromium_relay_only_through_coturn(coturn: CoturnProcess, page: Any) -> None:
    settings = IceSettings(
        turn_urls=(coturn.url_for("udp"), coturn.url_for("tcp")),
        turn_secret=coturn.secret,
        transport_policy="relay",
    )
    browser_config = {
        "iceServers": browser_ice_servers(settings, "browser"),
        "iceTransportPolicy": "relay",
    }
    started = time.perf_counter()
    offer = await page.evaluate(OFFER_JS, browser_config)
    gathered = time.perf_counter() - started
    types = candidate_types(offer)
    assert set(types) == {"relay"}, offer  # relay-only: no host address leaves the browser
    offer, removed = strip_mdns_candidates(offer)
    assert removed == 0

    gateway = RTCPeerConnection(gateway_rtc_configuration(settings, "gateway"))
    try:

        @gateway.on("datachannel")
        def on_channel(channel: Any) -> None:
            channel.on("message", lambda message: channel.send(f"echo:{message}"))

        await gateway.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await gateway.setLocalDescription(await gateway.createAnswer())
        assert set(candidate_types(gateway.localDescription.sdp)) == {"relay"}
        await page.evaluate(
            "(sdp) => window.pc.setRemoteDescription({type: 'answer', sdp})",
            gateway.localDescription.sdp,
        )
        await page.wait_for_function("() => window.channel.readyState === 'open'", timeout=15000)
        connected = time.perf_counter() - started
        print(
            f"chromium relay-only: offer gathered in {1000 * gathered:.0f} ms, "
            f"connected {1000 * (connected - gathered):.0f} ms later"
        )
        await page.evaluate("() => window.channel.send('hello')")
        await page.wait_for_function("() => window.received.length > 0", timeout=5000)
        assert await page.evaluate("() => window.received[0]") == "echo:hello"
        pair = await page.evaluate(
            """async () => {
              const stats = await window.pc.getStats();
              let pair = null;
              stats.forEach((s) => {
                if (s.type === "transport" && s.selectedCandidatePairId)
                  pair = stats.get(s.selectedCandidatePairId);
              });
              return {
                local: stats.get(pair.localCandidateId).candidateType,
                remote: stats.get(pair.remoteCandidateId).candidateType,
              };
            }"""
        )
        assert pair == {"local": "relay", "remote": "relay"}
        assert connected < 10
    finally:
        await gateway.close()
