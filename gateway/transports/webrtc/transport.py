"""The WebRTC transport's front door: admits, builds and resumes sessions for signaling.

Implements ``signaling.interface.SessionFactory``, so signaling opens sessions without
knowing what they contain, and keeps the open sessions for health and shutdown. A session
that ended is remembered a little while (``ENDED_KEEP``), so a client that comes back to
resume it too late learns why it cannot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from gateway import logs
from gateway.auth import Principal, Role
from gateway.conversation.admission import Admission, Refused
from gateway.observability.metrics import count_error
from signaling import protocol
from signaling.interface import Notify, Resumed, SessionError

from .resume import token_matches
from .session import SessionServices, WebRtcSession

log = logging.getLogger(__name__)

ENDED_KEEP = 300.0  # seconds an ended session's id is remembered
ENDED_MAX = 4096


class WebRtcTransport:
    def __init__(self, services: SessionServices, admission: Admission) -> None:
        self.services = services
        self.admission = admission
        self.sessions: dict[str, WebRtcSession] = {}
        self._ended: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self.resumes = 0
        self.resume_refusals = 0
        # Every signaling error (bad_json, unknown_type, refusals, session failures) is
        # counted where it is built, whichever carrier sends it.
        protocol.observe_errors(count_signaling_error)

    def ice_servers(self, session_id: str) -> list[dict[str, Any]]:
        return self.services.ice.client_servers(session_id)

    def open(self, session_id: str, notify: Notify, principal: Any = None) -> WebRtcSession:
        """A connection counts against the session limit from its first byte.

        ``principal``: who signaling's entrance found the client to be. Runs in the
        signaling connection's task: the session id bound here tags every log record of that
        task and of the tasks it starts; every error the client is told about is counted.
        """
        logs.bind(session_id=session_id)
        try:
            ticket = self.admission.admit("webrtc")
        except Refused as exc:
            raise SessionError(exc.code, exc.message, fatal=True) from None
        session = WebRtcSession(session_id, self.services, notify=notify,
                                ticket=ticket, on_closed=self._closed, principal=principal)
        self.sessions[session_id] = session
        return session

    async def resume(self, session_id: str, token: str, notify: Notify, *, last_seq: int,
                     offer_sdp: str | None, principal: Any = None,
                     ) -> tuple[WebRtcSession, Resumed]:
        """Continue a session on a new connection, if ``token`` is its resume token and
        ``principal`` is the one that started it (the same access token, or a service):
        a resume token alone must not hand a call to another app's client."""
        session = self.sessions.get(session_id)
        if session is None or session.stopping:
            raise self._refusal(session_id, session.ended_as if session else None)
        if not token_matches(session.client.token, token):
            self.resume_refusals += 1
            log.warning("session %s: resume refused (wrong token)", session_id)
            raise SessionError("resume_failed", "the resume token does not match this session",
                               retryable=True, details={"reason": "bad_token"})
        if not may_take_over(session.principal, principal):
            self.resume_refusals += 1
            raise SessionError("forbidden", "this session belongs to another access token",
                               fatal=True)
        if not session.client.can_resume:
            self.resume_refusals += 1
            raise SessionError("resume_failed", "this session cannot be resumed (its client did "
                               "not ask for the 'resume' feature, or it has not been answered)",
                               retryable=True, details={"reason": "not_resumable"})
        logs.bind(session_id=session_id)
        resumed = await session.resume(notify, last_seq=last_seq, offer_sdp=offer_sdp)
        self.resumes += 1
        return session, resumed

    def _refusal(self, session_id: str, ending: str | None = None) -> SessionError:
        self.resume_refusals += 1
        ended = self._ended.get(session_id) or (
            (time.monotonic(), ending or "ended") if ending is not None else None)
        if ended is None:
            return SessionError("resume_failed", "no such session here: start a new one",
                                retryable=True, details={"reason": "unknown_session"})
        ago, why = time.monotonic() - ended[0], ended[1]
        wording = {"expired": "nobody resumed it within its grace period",
                   "left": "its participant hung up",
                   "dropped": "its connection was lost and it was not resumable"}.get(why, why)
        return SessionError("resume_failed", f"the session ended {ago:.0f} s ago ({wording}): "
                            "start a new one", retryable=True,
                            details={"reason": "session_ended", "endedAs": why})

    def _closed(self, session: WebRtcSession) -> None:
        self.sessions.pop(session.id, None)
        now = time.monotonic()
        self._ended[session.id] = (now, session.ended_as or "ended")
        while self._ended and (len(self._ended) > ENDED_MAX
                               or next(iter(self._ended.values()))[0] < now - ENDED_KEEP):
            self._ended.popitem(last=False)

    @property
    def away(self) -> int:
        """Sessions waiting for their client to resume."""
        return sum(1 for s in self.sessions.values()
                   if s.client.absence is not None and s.client.absence.any)

    async def close_all(self) -> None:
        """Shutdown: stop admitting, then flush and close every session concurrently."""
        self.admission.drain()
        sessions = list(self.sessions.values())
        if sessions:
            log.info("closing %d open sessions", len(sessions))
            # "dropped" for the others: the server ended the call, nobody hung up.
            await asyncio.gather(*(s.end("dropped") for s in sessions), return_exceptions=True)


def count_signaling_error(code: str) -> None:
    """Count one error a signaling client is told about (``gateway_errors_total``)."""
    count_error("signaling", code)


def may_take_over(owner: Any, newcomer: Any) -> bool:
    """Whether ``newcomer`` may resume a session ``owner`` started (open mode: anyone)."""
    if not isinstance(owner, Principal) or owner.anonymous:
        return True
    if not isinstance(newcomer, Principal):
        return False
    return newcomer.token_id == owner.token_id or newcomer.role is Role.SERVICE
