"""A call relay-only through a real coturn: the page's ``?relay=1`` makes both browsers
gather nothing but TURN relay candidates, for their direct audio to each other as for their
audio to the gateway (the invite link carries ``relay=1`` on to the second person).

Run: ``VOSK_MODEL=… pytest -s tests/e2e/test_call_relay.py`` (needs chromium, coturn,
espeak-ng, playwright).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.calls import (
    ALEX_SAYS,
    ALEX_WORDS,
    SAM_SAYS,
    SAM_WORDS,
    SILENT_RECEIVED,
    hearing,
    invite_query,
    join,
    session_id,
    wait_line,
    wait_peer_connected,
)
from tests.e2e.support import LaunchBrowser, MakeSpeech
from tests.turn.conftest import TURN_SECRET, coturn  # noqa: F401 (fixture)
from turn.coturn import CoturnProcess

pytestmark = pytest.mark.slow


async def test_call_through_turn_relay_only(
        start_gateway: Any, launch_browser: LaunchBrowser, make_speech: MakeSpeech,
        coturn: CoturnProcess) -> None:  # noqa: F811
    gw = await start_gateway(turn_urls=(coturn.url,), turn_secret=TURN_SECRET, insights=False)
    voices: tuple[Path, Path] = (
        make_speech(ALEX_SAYS, lead=0.5, gap=1.0, tail=6.0),
        make_speech(SAM_SAYS, lead=5.5, gap=1.0, tail=2.0, voice="en-us+f3"))
    alex = await join(await launch_browser(voices[0]), gw.url, "Alex", "relay=1")
    invite = await invite_query(alex)
    assert "relay=1" in invite, invite
    sam = await join(await launch_browser(voices[1]), gw.url, "Sam", invite)
    alex_id, sam_id = await session_id(alex), await session_id(sam)
    await wait_peer_connected(alex, sam_id)
    await wait_peer_connected(sam, alex_id)
    since = time.time() * 1000
    await asyncio.sleep(1.0)  # a stats poll after connecting fills in the selected pair

    facts = {}
    for page, other in ((alex, sam_id), (sam, alex_id)):
        state = await page.evaluate("window.gateway")
        assert state["relay"] is True and state["peer"] == "connected", state
        peer = state["peers"][other]
        assert (peer["facts"]["local"], peer["facts"]["remote"]) == ("relay", "relay"), peer
        facts[state["sessionId"]] = peer["connectedAfterMs"]
    print(f"\nrelay-only: browser-to-browser connected after {facts} ms (from link creation)")

    for page, mine, theirs in ((alex, ALEX_WORDS, ("Sam", SAM_WORDS)),
                               (sam, SAM_WORDS, ("Alex", ALEX_WORDS))):
        await wait_line(page, "You", mine)
        await wait_line(page, *theirs)
    remaining = 12.0 - (time.time() * 1000 - since) / 1000
    if remaining > 0:
        await asyncio.sleep(remaining)
    a, s = await alex.evaluate("window.gateway"), await sam.evaluate("window.gateway")
    for heard in (hearing(s["localLevels"], a["peers"][sam_id]["levels"], since=since),
                  hearing(a["localLevels"], s["peers"][alex_id]["levels"], since=since)):
        print(f"relay-only: {heard}")
        assert heard.speaking_median > 0.05 and heard.silent_max < SILENT_RECEIVED, heard
