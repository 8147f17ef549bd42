"""Every transport's open sessions in one place, for the metrics collector and the drain.

Transports keep their own session tables (``WebRtcTransport.sessions``, the WHIP
transport's resources); each registers a getter here under its name, so the collector and
the drain see every transport without importing any of them. A session is read by duck
type (``LiveSession``): what every transport's session already has.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any, Protocol

from aiohttp import web

from gateway.pipeline.stream import MediaStream


class LiveSession(Protocol):
    """What the collector and the drain read of a session (WebRTC, WHIP, ...)."""

    id: str
    stream: MediaStream | None

    async def stop(self) -> None: ...

    async def wait_closed(self) -> None: ...


SessionGetter = Callable[[], Collection[Any]]


class LiveSessions:
    """Open sessions by transport name."""

    def __init__(self) -> None:
        self._sources: dict[str, SessionGetter] = {}

    def add(self, transport: str, sessions: SessionGetter) -> None:
        """Register ``transport``'s open sessions (a getter: the table changes)."""
        self._sources[transport] = sessions

    def remove(self, transport: str) -> None:
        self._sources.pop(transport, None)

    @property
    def transports(self) -> list[str]:
        return list(self._sources)

    def items(self) -> Iterator[tuple[str, LiveSession]]:
        for transport, sessions in list(self._sources.items()):
            for session in list(sessions()):
                yield transport, session

    def count(self) -> int:
        return sum(len(sessions()) for sessions in self._sources.values())


LIVE_KEY = web.AppKey("live_sessions", LiveSessions)


def session_state(session: Any) -> str:
    """A session's state from what every transport's session exposes.

    ``signaling`` before a peer connection exists, then the peer connection's own state
    (``new``/``connecting`` count as ``connecting``), ``closed`` once it is gone.
    """
    pc = getattr(session, "pc", None)
    if pc is None:
        return "signaling"
    state = str(getattr(pc, "connectionState", "new"))
    return "connecting" if state in ("new", "connecting") else state
