"""The real page in headless Chromium, relay-only through a real coturn, to the real gateway.

Chromium's fake microphone plays espeak-ng speech; the page (``/?relay=1``) takes its ICE
servers from ``hello``, gathers only relay candidates, and the transcript must show up on the
page. The page's peer connection is observed through a wrapper installed before the page's own
script runs (its configuration, and the selected candidate pair from ``getStats``), and the
gateway's side through its session.

Run: ``VOSK_MODEL=/path/to/vosk-model-small-en-us-0.15 pytest -s
tests/turn/test_turn_gateway_browser.py``
(needs /usr/bin/chromium or $CHROMIUM, espeak-ng, playwright, coturn).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import StartGateway
from tests.e2e.conftest import launch_browser, make_speech, speech_dir  # noqa: F401 (fixtures)
from tests.e2e.support import LaunchBrowser, MakeSpeech
from tests.e2e.test_browser import (
    TRANSCRIPT_MIN_WORDS,
    TRANSCRIPT_SENTENCES,
    TRANSCRIPT_WORDS,
    wait_for_words,
)
from tests.rtc_client import selected_pair
from tests.turn.conftest import TURN_SECRET
from turn.coturn import CoturnProcess

pytestmark = pytest.mark.slow

# Recognised nearly word for word from espeak by the small model.
SENTENCES = TRANSCRIPT_SENTENCES
WORDS = TRANSCRIPT_WORDS
MIN_WORDS = TRANSCRIPT_MIN_WORDS

# Keep every peer connection the page makes, without changing what it does.
RECORD_PEERS = """
(() => {
  const Original = window.RTCPeerConnection;
  if (!Original) return;
  window.__peers = [];
  window.RTCPeerConnection = class extends Original {
    constructor(config, ...rest) { super(config, ...rest); window.__peers.push(this); }
  };
})();
"""

PEER_FACTS = """
async () => {
  const pc = window.__peers[window.__peers.length - 1];
  const stats = await pc.getStats();
  let pairId = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  const pair = pairId ? stats.get(pairId) : null;
  const types = [];
  stats.forEach((s) => { if (s.type === "local-candidate") types.push(s.candidateType); });
  const config = pc.getConfiguration();
  return {
    policy: config.iceTransportPolicy,
    iceServers: config.iceServers,
    localTypes: types,
    local: pair ? stats.get(pair.localCandidateId).candidateType : null,
    remote: pair ? stats.get(pair.remoteCandidateId).candidateType : null,
    localAddress: pair ? stats.get(pair.localCandidateId).address : null,
  };
}
"""


async def wait_js(page: Any, expression: str, timeout: float = 30.0, arg: Any = None) -> Any:  # noqa: ASYNC109
    handle = await page.wait_for_function(expression, arg=arg, timeout=timeout * 1000,
                                          polling=50)
    return await handle.json_value()


@pytest.mark.parametrize("gateway_policy", ["relay", "all"])
async def test_page_relay_only_shows_transcript(
    start_gateway: StartGateway, coturn: CoturnProcess, launch_browser: LaunchBrowser,  # noqa: F811
    make_speech: MakeSpeech, gateway_policy: str,  # noqa: F811
) -> None:
    """``?relay=1`` alone makes the page relay-only ("all" on the gateway); with the gateway
    relay-only too, both ends use nothing but coturn."""
    gw = await start_gateway(turn_urls=(coturn.url,), turn_secret=TURN_SECRET,
                             ice_transport_policy=gateway_policy, insights=False)
    browser = await launch_browser(make_speech(*SENTENCES))
    page = browser.page
    await page.add_init_script(RECORD_PEERS)
    await page.goto(gw.url + "/?relay=1")
    await page.wait_for_function("() => window.gateway && window.gateway.state === 'idle'")
    await page.click("#call-button")

    found = await wait_for_words(page, WORDS, MIN_WORDS, timeout=45)
    assert len(found) >= MIN_WORDS, browser.console

    hook = await page.evaluate("window.gateway")
    assert hook["state"] == "connected" and hook["peer"] == "connected", hook
    assert hook["relay"] is True and hook["iceTransportPolicy"] == "relay"
    assert hook["errors"] == [], hook["errors"]
    assert "Relay-only" in await page.locator("#relay-note").inner_text()
    finals = await page.locator("#finals").inner_text()
    assert re.search(r"\bmeeting\b", finals.lower()), finals

    facts = await page.evaluate(PEER_FACTS)
    assert facts["policy"] == "relay"
    # The servers came from hello: its TURN credential is minted for this session's id
    # (GET /api/ice-servers would have said "anonymous").
    (turn,) = [s for s in facts["iceServers"] if any(u.startswith("turn:") for u in s["urls"])]
    assert coturn.url in turn["urls"]
    assert turn["username"].endswith(":" + hook["sessionId"]), turn
    assert set(facts["localTypes"]) == {"relay"}, facts
    assert facts["local"] == "relay" and facts["localAddress"] == "127.0.0.1", facts

    # The gateway's view of the same call: every candidate it got from the page is a relay.
    session = gw.sessions[hook["sessionId"]]
    assert session.pc is not None
    pair = selected_pair(session.pc)
    assert pair is not None
    gw_local, gw_remote = pair
    assert gw_remote.type == "relay"
    if gateway_policy == "relay":
        assert gw_local.type == "relay" and facts["remote"] == "relay"
    connection = session.pc.sctp.transport.transport._connection  # type: ignore[union-attr]
    assert {c.type for c in connection.remote_candidates} == {"relay"}
    print(f"\nchromium ?relay=1, gateway policy {gateway_policy}: pair "
          f"{facts['local']}->{facts['remote']}, timings {hook['timings']}")

    await page.click("#leave-button")
    await wait_js(page, "() => window.gateway.state === 'ended'", timeout=20)
