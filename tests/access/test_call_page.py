"""The call page with access control on, in a real headless Chromium (slow).

The page takes a caller token from its URL fragment, removes it from the address bar,
presents it on ``/ws`` and ``/api/ice-servers``, and says in words when there is none or it
is refused. The gateway is real (access control, WebRTC, a scripted recogniser so the lines
are known); Chromium's fake microphone plays a silent WAV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from gateway.asr.scripted import ScriptedPhrase, ScriptedRecognizer
from gateway.auth import Role
from gateway.auth.app_file import FileAppRegistry
from gateway.http.keys import WEBRTC_KEY
from tests.access.calls import Calls
from tests.access.conftest import StartGateway
from tests.access.support import Apps, token
from tests.e2e.conftest import launch_browser  # noqa: F401 - the browser fixture
from tests.e2e.support import LaunchBrowser
from tests.e2e.test_browser import wait_js
from tests.e2e.test_call import shoot
from tests.support.speech import SpeechSample

pytestmark = pytest.mark.slow

SCRIPT = [ScriptedPhrase("thanks for taking my call", 0.5, 1.5),
          ScriptedPhrase("my invoice shows a charge twice", 2.0, 3.2)]


async def open_page(launch: LaunchBrowser, tmp_path: Path, url: str) -> Any:
    wav = tmp_path / "silence.wav"
    SpeechSample(np.zeros(48_000 * 8, np.int16), 48_000).write(wav)
    browser = await launch(wav)
    page = browser.page
    await page.goto(url)
    await page.wait_for_function("() => window.gateway && window.gateway.state === 'idle'")
    return page


async def alert_after_join(page: Any) -> tuple[str, str]:
    await page.click("#call-button")
    await page.wait_for_selector("#alert:not([hidden])", timeout=20_000)
    errors = await page.evaluate("window.gateway.errors")
    return errors[-1]["code"], str(await page.locator("#alert").inner_text())


async def test_the_page_joins_with_the_token_in_its_link_and_explains_refusals(
        gateways: StartGateway, apps: Apps, launch_browser: LaunchBrowser,  # noqa: F811
        http: aiohttp.ClientSession, tmp_path: Path) -> None:
    backend = await apps.add(Role.SERVICE)
    gw = await gateways(recognizer=ScriptedRecognizer(SCRIPT))
    mine = await token(http, gw.url, backend, role="caller", conversationIds=["page-1"])
    other = await token(http, gw.url, backend, role="caller", conversationIds=["page-2"])

    page = await open_page(launch_browser, tmp_path, f"{gw.url}/?conversation=page-1")
    code, text = await alert_after_join(page)
    assert code == "missing_token" and "needs an invitation" in text

    page = await open_page(launch_browser, tmp_path,
                           f"{gw.url}/?conversation=page-1#access_token={other}")
    code, text = await alert_after_join(page)
    assert code == "conversation_not_in_scope" and "another call" in text

    page = await open_page(launch_browser, tmp_path,
                           f"{gw.url}/?conversation=page-1#access_token={mine}")
    assert "access_token" not in page.url  # taken out of the address bar at once
    await page.click("#call-button")
    await wait_js(page, "() => window.gateway.state === 'connected'", timeout=30)
    assert await page.evaluate("window.gateway.conversationId") == "page-1"
    await page.wait_for_selector("#finals li", timeout=20_000)
    assert "thanks for taking my call" in (
        await page.locator("#finals").inner_text()).lower()
    invite = await page.locator("#invite-link").inner_text()
    assert "conversation=page-1" in invite and mine not in invite  # no token in invites
    # A reload keeps the token (this tab only) and joins again.
    await page.click("#leave-button")
    await wait_js(page, "() => window.gateway.state === 'ended'", timeout=20)
    await page.reload()
    await page.wait_for_function("() => window.gateway && window.gateway.state === 'idle'")
    await page.click("#call-button")
    await wait_js(page, "() => window.gateway.state === 'connected'", timeout=30)
    await page.click("#leave-button")
    await wait_js(page, "() => window.gateway.state === 'ended'", timeout=20)


async def test_revoking_the_app_ends_the_call_on_the_page_in_words(
        gateways: StartGateway, apps: Apps, launch_browser: LaunchBrowser,  # noqa: F811
        http: aiohttp.ClientSession, tmp_path: Path) -> None:
    backend = await apps.add(Role.SERVICE)
    gw = await gateways(recognizer=ScriptedRecognizer(SCRIPT))
    mine = await token(http, gw.url, backend, role="caller", conversationIds=["page-3"])
    page = await open_page(launch_browser, tmp_path,
                           f"{gw.url}/?conversation=page-3#access_token={mine}")
    await page.click("#call-button")
    await wait_js(page, "() => window.gateway.state === 'connected'", timeout=30)

    await FileAppRegistry.load(apps.path).revoke(backend.app_id)  # gateway apps revoke

    await wait_js(page, "() => window.gateway.state === 'error'", timeout=10)
    assert (await page.evaluate("window.gateway.errors"))[-1]["code"] == "app_revoked"
    alert = await page.locator("#alert").inner_text()
    assert "Access to this call has been withdrawn" in alert, alert
    assert not await page.evaluate("window.gateway.reconnecting")  # no resume attempts
    await shoot(page, "revoked")
    assert not gw.app[WEBRTC_KEY].sessions


async def test_the_console_signed_in_by_link_lists_stored_calls_and_opens_their_transcript(
        gateways: StartGateway, apps: Apps, launch_browser: LaunchBrowser,  # noqa: F811
        http: aiohttp.ClientSession, tmp_path: Path) -> None:
    """After a restart, the recent list (per tenant) and an ended call's whole transcript
    come from the store."""
    acme = await apps.add(Role.AGENT, tenant="acme")
    other = await apps.add(Role.AGENT, tenant="globex")
    database = f"sqlite:///{tmp_path / 'store.db'}"
    gw = await gateways(database=database)
    calls = Calls()
    try:
        for app, cid, people in ((acme, "acme-1", ("Alice", "Bob")),
                                 (other, "globex-1", ("Carol", "Dan"))):
            caller = await token(http, gw.url, app, role="caller", conversationIds=[cid])
            joined = [await calls.join(gw.url, caller, name, cid, 6, title=f"Call {cid}")
                      for name in people]
            for participant in joined:
                await participant.hang_up()
    finally:
        await calls.close()
    await gw.store.sink.drain(10)
    await gw.stop()
    gw = await gateways(database=database)
    agent = await token(http, gw.url, acme)

    browser = await launch_browser()
    page = browser.page
    await page.goto(f"{gw.url}/console#access_token={agent}")
    await page.wait_for_selector('#feed-state[data-state="live"]', timeout=20_000)
    assert "access_token" not in page.url
    await page.wait_for_selector('#recent .card[data-id="acme-1"]', timeout=15_000)
    assert await page.locator('#recent .card[data-id="globex-1"]').count() == 0
    await page.locator('#recent .card[data-id="acme-1"] .open').click()
    await wait_js(page, """() => {
        const pane = document.querySelector('.pane[data-id="acme-1"]');
        return pane && pane.querySelectorAll('.lines li').length === 4; }""", timeout=20)
    lines = (await page.locator('.pane[data-id="acme-1"] .lines').inner_text()).lower()
    for said in ("hello thanks for calling support", "what is the price of the new plan",
                 "can you send me the invoice by friday", "great that sounds wonderful"):
        assert said in lines.replace(",", "").replace("?", "").replace(".", "")
    note = await page.locator('.pane[data-id="acme-1"] .pane-note').inner_text()
    assert "whole transcript" in note
    insights = await page.locator('.pane[data-id="acme-1"] .insight-list').inner_text()
    assert "invoice" in insights.lower()
