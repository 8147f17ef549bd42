"""Active checks of STUN/TURN servers, so configuration mistakes produce a clear error.

aiortc hides every TURN failure: with a wrong secret, an expired credential or an unreachable
server it simply gathers no relay candidate, and with the relay policy the connection then sits
in state ``new`` forever. The gateway therefore performs a real TURN Allocate itself (at start-up
and whenever a relay-only connection gathered nothing) and reports *why* it failed.

The checks here run one exchange each under a deadline: :mod:`turn.stun_transport` carries
the messages, :mod:`turn.allocation` performs the Allocate, and :mod:`turn.diagnosis` turns
every failure into a :class:`~turn.diagnosis.TurnCheckError` that says what to fix.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aioice import stun

from .allocation import allocate
from .credentials import rest_credential
from .diagnosis import TurnCheckError, connection_error, error_code
from .ice import IceSettings, gateway_turn_url, gathering_problem
from .stun_transport import StunSession
from .urls import parse_ice_url

__all__ = ["ServerCheck", "check_ice_servers", "check_stun", "check_turn", "diagnose_gathering"]


@dataclass(frozen=True)
class ServerCheck:
    """The outcome of checking one ICE server URL (see :func:`check_ice_servers`)."""

    url: str
    seconds: float | None
    error: TurnCheckError | None

    @property
    def ok(self) -> bool:
        return self.error is None


async def _run_check(
    url: str,
    limit: float,
    ssl_context: ssl.SSLContext | None,
    turn: bool,
    exchange: Callable[[StunSession], Awaitable[None]],
) -> float:
    parsed = parse_ice_url(url)
    if turn and not parsed.is_turn:
        raise ValueError(f"{url!r} is not a turn: or turns: URL")
    session = StunSession(parsed, ssl_context)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit):
            await session.open()
            await exchange(session)
    except TimeoutError as exc:
        raise TurnCheckError(
            f"TURN server {parsed} did not answer within {limit:g} s: unreachable "
            "(check the host, the port, firewalls, and that coturn is running)"
            if parsed.is_turn
            else f"STUN server {parsed} did not answer within {limit:g} s: unreachable",
            reason="timeout",
            url=url,
        ) from exc
    except TurnCheckError:
        raise
    except (OSError, ssl.CertificateError) as exc:
        raise connection_error(parsed, exc) from exc
    finally:
        session.close()
    return time.perf_counter() - started


async def check_turn(
    url: str,
    username: str,
    password: str,
    timeout: float = 3.0,  # noqa: ASYNC109 - a per-check budget, part of the interface
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> float:
    """Allocate a relay on the TURN server at ``url`` and free it again.

    Returns the seconds the allocation took (both round trips of the long-term-credential
    exchange, including the TCP/TLS handshake for ``?transport=tcp`` and ``turns:``), which is
    what a client pays before it has a relay candidate. Raises :class:`TurnCheckError` with a
    message that says what to fix on 401 (wrong secret or expired credential), 403, 486,
    438 twice in a row, refusal, TLS failure, or no answer within ``timeout`` seconds.
    ``ssl_context`` overrides certificate verification for ``turns:`` (e.g. a private CA).
    """

    async def exchange(session: StunSession) -> None:
        await allocate(session, username, password)

    try:
        return await _run_check(url, timeout, ssl_context, True, exchange)
    except TurnCheckError as error:
        if error.status != 437:
            raise
        # 437 Allocation Mismatch: coturn still holds an allocation for this 5-tuple, left by
        # an earlier client whose local port the kernel just reused. It says nothing about
        # the credentials; a fresh socket (a new port) settles it.
        return await _run_check(url, timeout, ssl_context, True, exchange)


async def check_stun(
    url: str,
    timeout: float = 3.0,  # noqa: ASYNC109 - a per-check budget, like check_turn
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> float:
    """Send one Binding request to a STUN (or TURN) server and return the round-trip seconds."""

    async def exchange(session: StunSession) -> None:
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        response = await session.request(request)
        if response.message_class != stun.Class.RESPONSE:
            code, text = error_code(response)
            raise TurnCheckError(
                f"STUN server {session.url} answered the Binding request with {code} {text}",
                reason="error",
                url=session.url.url,
            )

    return await _run_check(url, timeout, ssl_context, False, exchange)


async def check_ice_servers(
    settings: IceSettings,
    user: str = "probe",
    timeout: float = 3.0,  # noqa: ASYNC109 - per server, all run concurrently
) -> list[ServerCheck]:
    """Check every configured STUN and TURN URL concurrently, with a fresh credential each.

    Meant for gateway start-up (log each failure, refuse to start relay-only if the TURN server
    the gateway itself uses fails) and for diagnosing a connection that gathered no relay
    candidate. Never raises :class:`TurnCheckError`; failures are in the results.
    """

    async def one(url: str) -> ServerCheck:
        try:
            if parse_ice_url(url).is_turn:
                assert settings.turn_secret is not None
                credential = rest_credential(settings.turn_secret, user, settings.turn_ttl)
                seconds = await check_turn(url, credential.username, credential.password, timeout)
            else:
                seconds = await check_stun(url, timeout)
        except TurnCheckError as error:
            return ServerCheck(url, None, error)
        return ServerCheck(url, seconds, None)

    settings.validate()
    return list(await asyncio.gather(*(one(u) for u in settings.stun_urls + settings.turn_urls)))


async def diagnose_gathering(
    settings: IceSettings,
    local_sdp: str,
    user: str = "gateway",
    timeout: float = 3.0,  # noqa: ASYNC109 - budget for the one TURN check
) -> TurnCheckError | None:
    """Explain why a local description cannot connect, as a :class:`TurnCheckError`.

    aiortc gathers no relay candidate and raises nothing when its TURN server rejects it or does
    not answer. Call this after ``setLocalDescription``: it returns ``None`` when the description
    looks usable, otherwise the precise cause from a real allocation on the TURN URL the gateway
    uses (401 wrong secret, expired, unreachable, ...). Send ``str(error)`` to the client and
    log it; with the relay policy the connection cannot succeed, so close it.
    """
    problem = gathering_problem(local_sdp, settings)
    if problem is None:
        return None
    url = gateway_turn_url(settings)
    if url is None or not settings.turn_secret:
        return TurnCheckError(problem, reason="error", url="")
    credential = rest_credential(settings.turn_secret, user, settings.turn_ttl)
    try:
        await check_turn(url.url, credential.username, credential.password, timeout)
    except TurnCheckError as error:
        return error
    return TurnCheckError(
        f"{problem}, although a test allocation on {url} just succeeded (transient failure?)",
        reason="error",
        url=url.url,
    )
