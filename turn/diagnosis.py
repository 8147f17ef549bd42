"""What a failed STUN/TURN check raises, and the advice each failure carries.

aiortc reports nothing when a TURN server refuses it, so the gateway's own checks are the
only place a misconfiguration gets explained. Every failure therefore becomes one
:class:`TurnCheckError` whose text names the likely cause and the setting to fix (the
secret, an expired credential, quotas, the certificate, a server that is not listening),
plus a stable ``reason`` tag for callers that map failures to error codes.
"""

from __future__ import annotations

import ssl
import time
from datetime import UTC, datetime
from typing import Literal

from aioice import stun

from .credentials import parse_rest_username
from .urls import IceUrl

__all__ = ["Reason", "TurnCheckError", "connection_error", "error_code", "refusal"]

Reason = Literal[
    "unauthorized", "expired", "forbidden", "quota", "timeout", "refused", "dns", "tls", "error"
]


class TurnCheckError(Exception):
    """A STUN/TURN server could not be used; ``str(error)`` is meant for logs and for clients.

    ``reason`` is a stable machine-readable tag (``unauthorized``, ``expired``, ``forbidden``,
    ``quota``, ``timeout``, ``refused``, ``dns``, ``tls``, ``error``) for callers that map the
    failure to an error code, and ``url`` is the server URL that was checked.
    """

    def __init__(
        self, message: str, *, reason: Reason, url: str, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.url = url
        self.status = status  # the STUN error code, when the server answered with one


def error_code(message: stun.Message) -> tuple[int, str]:
    """The STUN ERROR-CODE of an error response as ``(code, reason phrase)``."""
    code, text = message.attributes.get("ERROR-CODE", (0, "no ERROR-CODE"))
    return int(code), str(text)


def _expired_hint(username: str, now: float) -> str | None:
    parsed = parse_rest_username(username)
    if parsed is None or parsed[0] > now:
        return None
    expires_at = parsed[0]
    when = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"credential expired at {when} ({int(now - expires_at)} s ago)"


def connection_error(url: IceUrl, exc: BaseException) -> TurnCheckError:
    """Explain a failure to reach the server at all (TLS handshake, refused, other OS errors)."""
    where = f"{url.host}:{url.port}/{url.transport or 'udp'}"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TurnCheckError(
            f"TURN server {url} failed the TLS handshake ({exc}): check the certificate "
            "(cert/pkey in turnserver.conf) and that the URL's host matches it",
            reason="tls",
            url=url.url,
        )
    if isinstance(exc, ConnectionRefusedError):
        return TurnCheckError(
            f"TURN server {url} refused the connection: nothing listens on {where} "
            "(is coturn running, and on this port and transport?)",
            reason="refused",
            url=url.url,
        )
    return TurnCheckError(
        f"TURN server {url} could not be reached at {where}: {exc}", reason="error", url=url.url
    )


def refusal(url: IceUrl, username: str, code: int, text: str) -> TurnCheckError:
    """Explain an Allocate the server answered with an error (401, 403, 486, ...)."""
    status = f"{code} {text}".strip()
    if code == 401:
        hint = _expired_hint(username, time.time())
        if hint is not None:
            return TurnCheckError(
                f"TURN server {url} rejected the credentials ({status}): {hint}; "
                "fetch fresh ones (GET /api/ice-servers) or raise --turn-ttl",
                reason="expired",
                url=url.url,
            )
        return TurnCheckError(
            f"TURN server {url} rejected the credentials ({status}): check --turn-secret "
            "(it must equal coturn's static-auth-secret) and the realm",
            reason="unauthorized",
            url=url.url,
        )
    if code == 403:
        return TurnCheckError(
            f"TURN server {url} refused the allocation ({status}): the server's policy "
            "forbids this client or relay address",
            reason="forbidden",
            url=url.url,
        )
    if code == 486:
        return TurnCheckError(
            f"TURN server {url} refused the allocation ({status}): allocation quota reached "
            "(user-quota / total-quota in turnserver.conf)",
            reason="quota",
            url=url.url,
        )
    return TurnCheckError(
        f"TURN server {url} refused the allocation ({status})", reason="error", url=url.url,
        status=code,
    )
