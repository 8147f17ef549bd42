"""Helpers for the relay tests: links on loopback, what they published, audio coverage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import numpy as np

from gateway.relays.link import DownstreamLink
from gateway.relays.report import Reporter
from gateway.relays.settings import LinkSettings
from gateway.relays.targets import Target
from gateway.transcript import Speaker

FAST = LinkSettings(backoff_initial=0.05, backoff_max=0.3, connect_timeout=1.0,
                    close_timeout=2.0, confirm_interval=0.1, pong_timeout=1.0)


class Published(list[dict[str, Any]]):
    """What a link published (its replies and status messages), in order."""

    def statuses(self, status: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self if m["type"] == "downstream_status"
                and (status is None or m["status"] == status)]

    def replies(self) -> list[dict[str, Any]]:
        return [m for m in self if m["type"] == "downstream_message"]

    def add(self, message: Mapping[str, Any]) -> None:
        self.append(dict(message))


def make_link(session: aiohttp.ClientSession, url: str, protocol: str = "jambonz", *,
              options: Mapping[str, Any] | None = None, settings: LinkSettings = FAST,
              published: Published | None = None, participant: str | None = "p1",
              reply_rate: float = 50.0) -> DownstreamLink:
    target = Target("t", protocol, url, dict(options or {}))
    info = target.stream_info("conv-1", participant_id=participant,
                              speaker=Speaker(name="Ann", id=participant))
    reporter = Reporter((published if published is not None else Published()).add,
                        reply_rate=reply_rate)
    return DownstreamLink(target.build(info), target.url_for(info), session=lambda: session,
                          reporter=reporter, settings=settings,
                          results=target.carries_results)


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


def locate(sent: np.ndarray, piece: np.ndarray, probe: int = 400) -> int:
    """Where ``piece`` starts in ``sent`` (exact samples); -1 if it is not there."""
    head = piece[:probe]
    windows = np.lib.stride_tricks.sliding_window_view(sent, len(head))
    hits = np.flatnonzero((windows == head).all(axis=1))
    return int(hits[0]) if len(hits) else -1


def coverage(sent: np.ndarray, pieces: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """Which samples of ``sent`` arrived (each piece placed where it matches exactly, and
    checked sample for sample) and how many arrived twice."""
    covered = np.zeros(len(sent), np.int32)
    for piece in pieces:
        if not len(piece):
            continue
        at = locate(sent, piece)
        assert at >= 0, "a connection carried audio that was never sent"
        assert np.array_equal(sent[at: at + len(piece)], piece), "audio altered"
        covered[at: at + len(piece)] += 1
    return covered > 0, int((covered > 1).sum())
