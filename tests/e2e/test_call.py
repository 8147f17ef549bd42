"""One-on-one calls through the page: two real Chromiums, each with its own speech WAV as
microphone, a real gateway with the real Vosk model. No mocks.

Alex says one sentence early in his loop, Sam one late in hers, so each page has stretches
where the other speaks and stretches of silence. What each side *receives* is read from the
page's own ``getStats()`` (inbound-rtp ``audioLevel`` of the direct connection), compared in
time with the sender's own microphone level (see ``tests/e2e/calls.py``).

Screenshots of every state land in /tmp/e2e-call-*.png at desktop (1280x800) and phone
(390x844) widths; docs/img/ holds the ones docs/calls.md shows.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningGateway
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
from tests.e2e.test_browser import open_page, wait_js

pytestmark = pytest.mark.slow

SCREENSHOTS = Path("/tmp")
LOOP_SECONDS = 10.5  # both WAVs loop in about this time


async def shoot(page: Any, state: str) -> None:
    """The page at desktop and phone widths."""
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.screenshot(path=str(SCREENSHOTS / f"e2e-call-{state}-desktop.png"))
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(SCREENSHOTS / f"e2e-call-{state}-phone.png"))
    await page.set_viewport_size({"width": 1280, "height": 800})


def gateway_tasks() -> set[asyncio.Task[Any]]:
    """Tasks running code of the gateway, signaling, aiortc or aioice."""
    found = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        name = code.co_filename if code is not None else ""
        if any(part in name for part in ("/gateway/", "/signaling/", "/aiortc/", "/aioice/")):
            found.add(task)
    return found


async def wait_server_idle(gw: RunningGateway, baseline: set[asyncio.Task[Any]]) -> None:
    deadline = time.monotonic() + 20
    while True:
        leftover = gateway_tasks() - baseline
        if not gw.sessions and not gw.directory.conversations and not gw.bus.conversations() \
                and not leftover:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"server not idle: sessions {list(gw.sessions)}, "
                                 f"conversations {list(gw.directory.conversations)}, "
                                 f"tasks {[t.get_coro() for t in leftover]}")
        await asyncio.sleep(0.1)


async def hook(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("window.gateway")
    return result


async def lines_of(page: Any, label: str, since_ms: float) -> list[str]:
    """Texts of the lines labelled ``label`` that were spoken after ``since_ms``."""
    finals = (await hook(page))["finals"]
    return [f["text"] for f in finals if f["speaker"] == label and f["startMs"] > since_ms]


@pytest.fixture
def voices(make_speech: MakeSpeech) -> tuple[Path, Path]:
    """Alex speaks ~0.5-3 s into his 10.5 s loop; Sam ~5.5-7.5 s into hers."""
    return (make_speech(ALEX_SAYS, lead=0.5, gap=1.0, tail=6.0),
            make_speech(SAM_SAYS, lead=5.5, gap=1.0, tail=2.0, voice="en-us+f3"))


async def test_two_people_hear_each_other_and_read_one_transcript(
        start_gateway: Any, launch_browser: LaunchBrowser, voices: tuple[Path, Path]) -> None:
    gw = await start_gateway(insights=True)
    baseline = gateway_tasks()
    alex_browser = await launch_browser(voices[0])
    sam_browser = await launch_browser(voices[1])

    alex = await join(alex_browser, gw.url, "Alex")
    status = await alex.locator("#status").inner_text()
    assert "Waiting for someone to join" in status, status
    assert await alex.locator("#invite").is_visible()
    await shoot(alex, "waiting")

    sam = await join(sam_browser, gw.url, "Sam", await invite_query(alex))
    alex_id, sam_id = await session_id(alex), await session_id(sam)
    await wait_peer_connected(alex, sam_id)
    await wait_peer_connected(sam, alex_id)
    assert "In call with Sam" in await alex.locator("#status").inner_text()
    assert "In call with Alex" in await sam.locator("#status").inner_text()
    assert await alex.locator("#invite").is_hidden(), "a full two-person call invites nobody"

    # Both transcripts: each person's own lines as "You", the other's by name.
    for page, me, other in ((alex, ALEX_WORDS, ("Sam", SAM_WORDS)),
                            (sam, SAM_WORDS, ("Alex", ALEX_WORDS))):
        await wait_line(page, "You", me)
        await wait_line(page, *other)
    # Lines are in the order they were spoken, whatever order they arrived in.
    for page in (alex, sam):
        starts = [f["startMs"] for f in (await hook(page))["finals"]]
        assert starts == sorted(starts)

    # Each side receives the other's audio: loud while the other speaks, silent otherwise.
    listening_from = time.time() * 1000
    await asyncio.sleep(LOOP_SECONDS + 1)
    a, s = await hook(alex), await hook(sam)
    alex_hears = hearing(s["localLevels"], a["peers"][sam_id]["levels"], since=listening_from)
    sam_hears = hearing(a["localLevels"], s["peers"][alex_id]["levels"], since=listening_from)
    print(f"\nAlex hears Sam: {alex_hears}\nSam hears Alex: {sam_hears}")
    for heard in (alex_hears, sam_hears):
        assert len(heard.while_speaking) >= 3 and len(heard.while_silent) >= 8, heard
        assert heard.speaking_median > 0.05, heard
        assert heard.silent_max < SILENT_RECEIVED, heard
    # Who is speaking: Sam's tile lights up on Alex's page while her voice arrives.
    await wait_js(alex, "(id) => document.querySelector("
                        "`#people li[data-id='${id}'][data-speaking='true']`)",
                  arg=sam_id, timeout=LOOP_SECONDS + 5)
    await shoot(alex, "in-call")

    # Sam mutes: Alex stops hearing her, and no new lines come from her.
    await sam.click("#mute-button")
    muted_at = time.time() * 1000
    await wait_js(alex, "(id) => window.gateway.people.some((p) => p.id === id && p.muted)",
                  arg=sam_id, timeout=10)
    assert await alex.locator(f'#people li[data-id="{sam_id}"][data-muted="true"]').count() == 1
    assert "Sam is muted" in await alex.locator("#status").inner_text()
    await asyncio.sleep(LOOP_SECONDS + 1.5)
    a, s = await hook(alex), await hook(sam)
    muted = hearing(s["localLevels"], a["peers"][sam_id]["levels"], since=muted_at + 500)
    print(f"Alex hears muted Sam: {muted}")
    assert muted.while_speaking, "Sam kept talking into her muted microphone"
    assert max(muted.while_speaking) < SILENT_RECEIVED, muted
    assert await lines_of(alex, "Sam", muted_at + 300) == []
    assert await lines_of(sam, "You", muted_at + 300) == []
    assert await wait_line(alex, "You", ALEX_WORDS)  # Alex is still transcribed
    await shoot(sam, "muted")

    # Unmuted: heard and transcribed again (the gateway's clock went on while muted).
    await sam.click("#mute-button")
    unmuted_at = time.time() * 1000
    await wait_js(alex, "(id) => window.gateway.people.some((p) => p.id === id && !p.muted)",
                  arg=sam_id, timeout=10)
    await wait_js(alex, "(since) => window.gateway.finals.some((f) => f.speaker === 'Sam' "
                        "&& f.startMs > since)", arg=unmuted_at, timeout=LOOP_SECONDS * 2 + 10)
    back = hearing((await hook(sam))["localLevels"], (await hook(alex))["peers"][sam_id]["levels"],
                   since=unmuted_at + 500)
    assert back.speaking_median > 0.05, back

    for page in (sam, alex):
        await page.click("#leave-button")
        await wait_js(page, "() => window.gateway.state === 'ended'", timeout=20)
    await wait_server_idle(gw, baseline)
    for browser in (alex_browser, sam_browser):
        assert not [c for c in browser.console if c.startswith("pageerror")], browser.console


async def test_closing_the_tab_tells_the_other_and_a_third_is_refused(
        start_gateway: Any, launch_browser: LaunchBrowser, voices: tuple[Path, Path]) -> None:
    # A browser that vanishes without its goodbye is held for the resume grace period before
    # it counts as dropped; a short one keeps the wait below short and deterministic.
    gw = await start_gateway(insights=False, resume_grace=5.0)
    baseline = gateway_tasks()
    alex_browser = await launch_browser(voices[0])
    sam_browser = await launch_browser(voices[1])
    kim_browser = await launch_browser(voices[1])
    alex = await join(alex_browser, gw.url, "Alex")
    invite = await invite_query(alex)
    sam = await join(sam_browser, gw.url, "Sam", invite)
    sam_id = await session_id(sam)
    await wait_peer_connected(alex, sam_id)

    # A third person with the same invite link: a clear refusal, and the call goes on.
    kim = await open_page(kim_browser, gw.url, f"?name=Kim&{invite}")
    await kim.click("#call-button")
    await wait_js(kim, "() => window.gateway.state === 'error'", timeout=20)
    alert = await kim.locator("#alert").inner_text()
    assert "This call is full" in alert and "two-person call" in alert, alert
    assert "--max-participants" in alert, alert
    assert (await hook(kim))["errors"][0]["code"] == "conversation_full"
    await shoot(kim, "full")
    assert [p["name"] for p in (await hook(alex))["people"]] == ["Sam"]

    # Sam closes her tab mid-call: Alex sees that she left, and waits for someone again.
    await sam.close()
    await wait_js(alex, "() => window.gateway.departed.some((d) => d.name === 'Sam')",
                  timeout=10)
    (departed,) = (await hook(alex))["departed"]
    assert departed["reason"] == "left", departed
    status = await alex.locator("#status").inner_text()
    assert "Sam left the call" in status and "Waiting for someone to join" in status, status
    assert (await hook(alex))["peers"][sam_id]["state"] == "closed"
    assert await alex.locator("#invite").is_visible()
    await shoot(alex, "other-left")

    # Kim may now join the same call.
    await kim.click("#call-button")
    await wait_js(kim, "() => window.gateway.state === 'connected'", timeout=30)
    await wait_peer_connected(alex, await session_id(kim))
    # Kim's browser goes away without saying goodbye: her connection "dropped".
    # Told at once if the page's goodbye got out, else when the 5 s grace period ends.
    await kim_browser.context.close()
    await wait_js(alex, "() => window.gateway.departed.some((d) => d.name === 'Kim')",
                  timeout=20)
    kim_left = [d for d in (await hook(alex))["departed"] if d["name"] == "Kim"][0]
    assert kim_left["reason"] in ("left", "dropped"), kim_left
    print(f"\nbrowser closed: Alex was told Kim {kim_left['reason']}")
    await alex.click("#leave-button")
    await wait_js(alex, "() => window.gateway.state === 'ended'", timeout=20)
    await wait_server_idle(gw, baseline)


async def test_glare_and_a_microphone_switch_keep_the_call(
        start_gateway: Any, launch_browser: LaunchBrowser, voices: tuple[Path, Path]) -> None:
    """Both sides renegotiate at the same moment (crossing offers): perfect negotiation
    settles it and audio keeps flowing. Then Alex switches microphone mid-call: the new
    track replaces the old one towards Sam and towards the gateway alike."""
    gw = await start_gateway(insights=False)
    alex_browser = await launch_browser(voices[0])
    sam_browser = await launch_browser(voices[1])
    alex = await join(alex_browser, gw.url, "Alex")
    sam = await join(sam_browser, gw.url, "Sam", await invite_query(alex))
    alex_id, sam_id = await session_id(alex), await session_id(sam)
    await wait_peer_connected(alex, sam_id)
    await wait_peer_connected(sam, alex_id)

    ufrags = "(id) => window.gateway.debug.iceUfrags(id)"
    before = await alex.evaluate(ufrags, sam_id)
    await asyncio.gather(alex.evaluate("(id) => window.gateway.debug.restartIce(id)", sam_id),
                         sam.evaluate("(id) => window.gateway.debug.restartIce(id)", alex_id))
    # Settled: new ICE credentials on both ends (the restart happened), still connected.
    await wait_js(alex, "([id, old]) => { const now = window.gateway.debug.iceUfrags(id);"
                        " return now[0] !== old[0] && now[1] !== old[1]; }",
                  arg=[sam_id, before], timeout=15)
    for page, other in ((alex, sam_id), (sam, alex_id)):
        await wait_peer_connected(page, other, timeout=15)
        assert (await hook(page))["peers"][other]["facts"].get("lastProblem") is None
    since = time.time() * 1000
    await asyncio.sleep(LOOP_SECONDS + 1)
    heard = hearing((await hook(alex))["localLevels"],
                    (await hook(sam))["peers"][alex_id]["levels"], since=since)
    assert heard.speaking_median > 0.05 and heard.silent_max < SILENT_RECEIVED, heard

    devices = (await hook(alex))["devices"]
    current = (await hook(alex))["deviceId"]
    others = [d["deviceId"] for d in devices if d["deviceId"] not in (current, "default")]
    assert others, devices
    await alex.select_option("#mic-switch", others[0])
    await wait_js(alex, "(id) => window.gateway.deviceId === id", arg=others[0], timeout=10)
    switched = time.time() * 1000
    await wait_js(sam, "(since) => window.gateway.finals.some((f) => f.speaker === 'Alex' "
                       "&& f.startMs > since)", arg=switched, timeout=LOOP_SECONDS * 2 + 10)
    after = hearing((await hook(alex))["localLevels"],
                    (await hook(sam))["peers"][alex_id]["levels"], since=switched)
    assert after.speaking_median > 0.05, after
    assert (await hook(alex))["errors"] == []


async def test_microphone_problems_are_explained(
        start_gateway: Any, launch_browser: LaunchBrowser, voices: tuple[Path, Path]) -> None:
    gw = await start_gateway(insights=False)
    denied = await launch_browser(None, mic="deny")
    page = await open_page(denied, gw.url, "?name=Alex")
    await page.click("#call-button")
    await wait_js(page, "() => window.gateway.state === 'error'", timeout=15)
    alert = await page.locator("#alert").inner_text()
    assert "Your microphone is blocked" in alert and "Allow the microphone" in alert, alert
    assert (await hook(page))["errors"][0]["code"] == "mic_denied"
    assert not gw.sessions, "nothing reached the gateway"
    await shoot(page, "mic-denied")

    # Taken by another application: Chrome's NotReadableError, which a fake device cannot
    # produce, so getUserMedia is made to fail the way Chrome fails then.
    busy = await launch_browser(voices[0])
    await busy.page.add_init_script("""
      navigator.mediaDevices.getUserMedia = () => Promise.reject(
        new DOMException('Could not start audio source', 'NotReadableError'));""")
    page = await open_page(busy, gw.url, "?name=Alex")
    await page.click("#call-button")
    await wait_js(page, "() => window.gateway.state === 'error'", timeout=15)
    alert = await page.locator("#alert").inner_text()
    assert "being used by another app" in alert, alert

    # Unplugged mid-call: the track ends; the call goes on and the page says what to do.
    plugged = await launch_browser(voices[0])
    page = await join(plugged, gw.url, "Alex")
    assert (await hook(page))["mic"] == "on"
    await page.evaluate("() => window.gateway.debug.unplug()")
    await wait_js(page, "() => window.gateway.mic === 'ended'", timeout=10)
    alert = await page.locator("#alert").inner_text()
    assert "Your microphone was disconnected" in alert, alert
    assert (await hook(page))["state"] == "connected"
    assert "microphone is disconnected" in await page.locator("#status").inner_text()
    await shoot(page, "mic-unplugged")
