"""Two browsers in one conversation through the page's invite link (real Chromium x2)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.support import LaunchBrowser, MakeSpeech
from tests.e2e.test_browser import SCREENSHOT_DIR, dom_text, open_page, wait_js, words_of

pytestmark = pytest.mark.slow


async def test_second_browser_joins_by_invite_and_both_see_each_other(
    start_gateway: Any, launch_browser: LaunchBrowser, make_speech: MakeSpeech
) -> None:
    gw = await start_gateway(insights=False)
    alex = await launch_browser(make_speech("The quarterly revenue grew by twelve percent."))
    sam = await launch_browser(make_speech("What time is the meeting tomorrow?"))

    alex_page = await open_page(alex, gw.url, "?name=Alex")
    await alex_page.click("#mic-button")
    await alex_page.wait_for_selector("#invite:not([hidden])", timeout=15_000)
    invite = await alex_page.locator("#invite-link").get_attribute("href")
    assert invite and "conversation=" in invite
    conversation = await alex_page.evaluate("window.gateway.conversationId")

    sam_page = await open_page(sam, gw.url, "?name=Sam&" + invite.split("?", 1)[1])
    assert await sam_page.input_value("#conversation-id") == conversation
    await sam_page.click("#mic-button")

    # Each page shows the other participant's lines, labelled with their name.
    for page, other in ((alex_page, "Sam"), (sam_page, "Alex")):
        await wait_js(page, "(name) => [...document.querySelectorAll('#finals .who')]"
                            ".some((n) => n.textContent.startsWith(name))", arg=other, timeout=30)
    alex_sees = await dom_text(alex_page, "#finals")
    sam_sees = await dom_text(sam_page, "#finals")
    assert {"meeting", "tomorrow"} & words_of(alex_sees)
    assert {"quarterly", "revenue", "percent"} & words_of(sam_sees)
    assert await sam_page.evaluate("window.gateway.conversationId") == conversation
    await sam_page.screenshot(path=str(SCREENSHOT_DIR / "e2e-conversation.png"))
    assert list(gw.directory.conversations) == [conversation]
