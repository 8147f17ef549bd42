"""The WHIP transport's session table: admission, resources by id, shutdown.

Resource ids are random (``secrets``, 128 bits): RFC 9725's security section warns that
guessable session URLs let anyone DELETE other people's sessions.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from gateway.auth import Principal
from gateway.auth.quotas import SessionLease
from gateway.conversation.admission import Admission, Refused
from gateway.transports.webrtc.session import SessionServices

from .offer import OfferError
from .session import TRANSPORT, WhipSession

log = logging.getLogger(__name__)

RETRY_AFTER = {"server_busy": 5, "shutting_down": 1}


class WhipTransport:
    def __init__(self, services: SessionServices, admission: Admission) -> None:
        self.services = services
        self.admission = admission
        self.sessions: dict[str, WhipSession] = {}

    def open(self, principal: Principal, lease: SessionLease,
             token_digest: str | None = None) -> WhipSession:
        """A new session with an admission ticket, for ``principal`` (who may change it)
        holding ``lease`` (released when it ends); ``OfferError`` 503 when refused (the
        lease is then the caller's to release)."""
        try:
            ticket = self.admission.admit(TRANSPORT)
        except Refused as exc:
            raise OfferError(503, exc.code, exc.message) from None
        session = WhipSession(secrets.token_urlsafe(16), self.services, ticket=ticket,
                              principal=principal, lease=lease, token_digest=token_digest,
                              on_closed=self._closed)
        self.sessions[session.id] = session
        return session

    def get(self, resource_id: str) -> WhipSession | None:
        return self.sessions.get(resource_id)

    def _closed(self, session: WhipSession) -> None:
        self.sessions.pop(session.id, None)

    async def close_all(self) -> None:
        """Shutdown: flush and close every session concurrently."""
        sessions = list(self.sessions.values())
        if sessions:
            log.info("closing %d WHIP sessions", len(sessions))
            await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)
