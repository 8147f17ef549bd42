"""Helpers for the two-browser call tests: joining through the page, and reading what each
page measured (its own microphone level, the level it receives from the other person).

Levels come from the pages themselves: ``window.gateway.localLevels`` is the speaker's own
microphone (an AnalyserNode on a clone of the track, so it keeps measuring while muted) and
``window.gateway.peers[id].levels`` is ``getStats()``'s inbound-rtp ``audioLevel`` of the
direct connection to that person. Both pages run on this machine, so their ``Date.now()``
timestamps share one clock.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from tests.e2e.support import Browser
from tests.e2e.test_browser import open_page, wait_js

# The small Vosk model on espeak-ng through the browser path, measured: Alex (en-us) "please
# call me back when you have the numbers"; Sam (en-us+f3) "what time is a meeting tomorrow".
ALEX_SAYS = "Please call me back when you have the numbers."
SAM_SAYS = "What time is the meeting tomorrow?"
ALEX_WORDS = {"please", "call", "back", "numbers"}
SAM_WORDS = {"time", "meeting", "tomorrow"}

SPEAKING = 0.02  # local RMS of espeak speech: 0.02-0.25 in most 21 ms windows; silence is 0
SILENT_RECEIVED = 0.01  # received audioLevel of silence: ~3e-5 (Opus noise floor)


async def join(browser: Browser, url: str, name: str, query: str = "") -> Any:
    """Open the page as ``name`` (with ``query``), press Join call, wait until in the call."""
    sep = "&" if query else ""
    page = await open_page(browser, url, f"?name={name}{sep}{query}")
    await page.click("#call-button")
    await wait_js(page, "() => window.gateway.state === 'connected'", timeout=30)
    return page


async def invite_query(page: Any) -> str:
    href = await page.locator("#invite-link").get_attribute("href")
    assert href and "conversation=" in href, href
    return str(href.split("?", 1)[1])


async def session_id(page: Any) -> str:
    return str(await page.evaluate("window.gateway.sessionId"))


async def wait_peer_connected(page: Any, other_id: str, timeout: float = 30) -> None:
    await wait_js(page, "(id) => window.gateway.peers[id] && "
                        "window.gateway.peers[id].state === 'connected'", arg=other_id,
                  timeout=timeout)


async def wait_line(page: Any, label: str, words: set[str], timeout: float = 60) -> str:
    """Wait for a transcript line labelled ``label`` with at least one of ``words``; returns
    its text."""
    text: str = await wait_js(
        page,
        """([label, words]) => {
             for (const li of document.querySelectorAll('#finals li')) {
               const who = li.querySelector('.who').textContent;
               const text = li.querySelector('.text').textContent.toLowerCase();
               if (who === label && words.some((w) => text.includes(w))) return text;
             }
             return null;
           }""",
        arg=[label, sorted(words)], timeout=timeout)
    return text


@dataclass
class Hearing:
    """How well one page received the other's audio over a stretch of time."""

    while_speaking: list[float]  # received level shortly after each sample the other spoke
    while_silent: list[float]  # received level inside the other's silences

    @property
    def speaking_median(self) -> float:
        return statistics.median(self.while_speaking) if self.while_speaking else 0.0

    @property
    def silent_max(self) -> float:
        return max(self.while_silent) if self.while_silent else 1.0

    def __str__(self) -> str:
        return (f"received level while the other speaks: median {self.speaking_median:.3f} "
                f"({len(self.while_speaking)} samples); while silent: max "
                f"{self.silent_max:.5f} ({len(self.while_silent)} samples)")


def hearing(sender_local: list[list[float]], received: list[list[float]], *,
            since: float = 0.0, until: float = float("inf")) -> Hearing:
    """Compare the sender's own microphone level with what the receiver got, in time.

    Speaking: each sender sample above ``SPEAKING``; the receiver's highest level in the
    following 0.6 s (network, jitter buffer and the stats' own averaging delay it). Silence:
    runs of the sender's silence lasting 1.5 s or more, less 0.6 s at each end.
    """
    rx = [(t, level) for t, level, *_ in received if since <= t <= until]
    tx = [(t, level) for t, level in sender_local if since <= t <= until]

    def received_between(start: float, end: float) -> list[float]:
        return [level for t, level in rx if start <= t <= end]

    speaking = []
    for t, level in tx:
        if level > SPEAKING:
            window = received_between(t, t + 600)
            if window:
                speaking.append(max(window))
    silent: list[float] = []
    run: list[float] = []
    for t, level in tx + [(float("inf"), 1.0)]:
        if level < 0.002:
            run.append(t)
            continue
        if run and run[-1] - run[0] >= 1500:
            silent += received_between(run[0] + 600, run[-1] - 600)
        run = []
    return Hearing(speaking, silent)
