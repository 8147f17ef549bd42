"""The WebRTC transport's front door: admits and builds sessions for ``/ws`` signaling.

Implements ``signaling.interface.SessionFactory``, so signaling opens sessions without
knowing what they contain, and keeps the open sessions for health and shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gateway.conversation.admission import Admission, Refused
from signaling.interface import Notify, SessionError

from .session import SessionServices, WebRtcSession

log = logging.getLogger(__name__)


class WebRtcTransport:
    def __init__(self, services: SessionServices, admission: Admission) -> None:
        self.services = services
        self.admission = admission
        self.sessions: dict[str, WebRtcSession] = {}

    def ice_servers(self, session_id: str) -> list[dict[str, Any]]:
        return self.services.ice.client_servers(session_id)

    def open(self, session_id: str, notify: Notify, principal: Any = None) -> WebRtcSession:
        """A connection counts against the session limit from its first byte.
        ``principal``: who signaling's entrance found the client to be."""
        try:
            ticket = self.admission.admit("webrtc")
        except Refused as exc:
            raise SessionError(exc.code, exc.message, fatal=True) from None
        session = WebRtcSession(session_id, self.services, notify=notify, ticket=ticket,
                                on_closed=self._closed, principal=principal)
        self.sessions[session_id] = session
        return session

    def _closed(self, session: WebRtcSession) -> None:
        self.sessions.pop(session.id, None)

    async def close_all(self) -> None:
        """Shutdown: stop admitting, then flush and close every session concurrently."""
        self.admission.drain()
        sessions = list(self.sessions.values())
        if sessions:
            log.info("closing %d open sessions", len(sessions))
            # "dropped" for the others: the server ended the call, nobody hung up.
            await asyncio.gather(*(s.end("dropped") for s in sessions), return_exceptions=True)
