"""The seam between signaling and the media side.

Signaling depends on these protocols only; the gateway implements them. Errors the media
side wants the client to see are raised as ``SessionError`` with a stable code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Notify = Callable[[dict[str, Any]], Awaitable[None]]


class SessionError(Exception):
    """A request the session cannot honour, with a stable ``code``.

    ``fatal`` errors end the signaling connection. ``retryable`` ones were raised before
    anything was set up for the offer, so the client may correct it and offer again on the
    same connection; the side raising the error knows that, not signaling.
    """

    def __init__(self, code: str, message: str, *, fatal: bool = False,
                 retryable: bool = False, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fatal = fatal
        self.retryable = retryable and not fatal
        # Machine-readable facts sent beside code and message (e.g. maxParticipants), so a
        # client can word the problem for its users without parsing the message.
        self.details = dict(details or {})


@dataclass(frozen=True, slots=True)
class RemoteCandidate:
    """A trickled ICE candidate; ``candidate`` None or "" means end of candidates."""

    candidate: str | None
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True, slots=True)
class Answer:
    """The session's reply to an offer."""

    sdp: str
    conversation_id: str | None = None
    # Non-fatal problems to report right after the answer (code, message), e.g. TURN
    # being unusable while direct connections may still work. After, not before: a client
    # waiting for its answer must not mistake a warning for a rejection.
    warnings: tuple[tuple[str, str], ...] = ()
    # Set when the client asked for "resume": the secret that lets it continue this session
    # on a new connection, and how long the session waits for it.
    resume_token: str | None = None
    resume_grace: float | None = None


@dataclass(frozen=True, slots=True)
class Resumed:
    """A session continued on a new connection."""

    session_id: str
    conversation_id: str
    sdp: str | None = None  # the answer, when the resume brought a new offer
    replayed: int = 0  # results sent again on the new data channel
    missed: int | None = 0  # results after lastSeq no longer held (lost for this client)
    grace: float = 0.0


class SignalingSession(Protocol):
    async def start(self, offer_sdp: str, config: Mapping[str, Any],
                    features: frozenset[str] = frozenset()) -> Answer:
        """Apply the offer and return the answer; ``features`` are what the client asked
        for of ``signaling.protocol.FEATURES``."""

    async def add_candidate(self, candidate: RemoteCandidate) -> None: ...

    def answered(self) -> None:
        """The answer (and its warnings) went out: messages about the other participants
        may follow it now, never before it."""

    async def peer(self, to: str, data: Mapping[str, Any]) -> None:
        """Relay ``data`` to participant ``to`` of the same conversation; ``SessionError``
        (``unknown_participant``) when there is no such other participant."""

    async def mute(self, muted: bool) -> None:
        """Stop (or resume) recognising this participant, and tell the others."""

    async def stop(self) -> None:
        """Graceful end (``bye``): flush final results, then close."""

    async def close(self) -> None:
        """The signaling connection went away. A session whose client asked for ``resume``
        waits for it (its grace period) and goes on meanwhile; any other ends, flushing
        where possible."""

    async def wait_closed(self) -> None:
        """Return once the session has ended, for whatever reason."""


class SessionFactory(Protocol):
    def ice_servers(self, session_id: str) -> list[dict[str, Any]]:
        """RTCIceServer-shaped dicts with fresh credentials for this client."""

    def open(self, session_id: str, notify: Notify,
             principal: Any = None) -> SignalingSession:
        """Create a session; raise ``SessionError("server_busy", ...)`` when full.

        ``principal`` is who the entrance (``signaling.entrance``) found the client to be,
        passed through unexamined: the session decides what it may join."""

    async def resume(self, session_id: str, token: str, notify: Notify, *, last_seq: int,
                     offer_sdp: str | None, principal: Any = None,
                     ) -> tuple[SignalingSession, Resumed]:
        """Continue session ``session_id`` on the connection ``notify`` belongs to, if
        ``token`` is its resume token (and ``principal`` may take it over);
        ``SessionError`` (``resume_failed``, with a ``reason``; ``sdp_required``;
        ``redirected``; ``forbidden``) otherwise. Its messages go through ``notify`` from
        now on, once the connection calls ``answered()``."""
