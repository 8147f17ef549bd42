"""Active checks of STUN/TURN servers, so configuration mistakes produce a clear error.

aiortc hides every TURN failure: with a wrong secret, an expired credential or an unreachable
server it simply gathers no relay candidate, and with the relay policy the connection then sits
in state ``new`` forever. The gateway therefore performs a real TURN Allocate itself (at start-up
and whenever a relay-only connection gathered nothing) and reports *why* it failed.

The client here is deliberately tiny: it speaks just enough STUN/TURN (Binding, Allocate with the
long-term credential mechanism, Refresh to free the allocation) over UDP, TCP or TLS, using
aioice's STUN message codec. It does not relay anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from aioice import stun

from .credentials import parse_rest_username, rest_credential
from .ice import IceSettings, gateway_turn_url, gathering_problem
from .urls import IceUrl, parse_ice_url

logger = logging.getLogger(__name__)

Reason = Literal[
    "unauthorized", "expired", "forbidden", "quota", "timeout", "refused", "dns", "tls", "error"
]
_UDP_TRANSPORT = 17 << 24  # REQUESTED-TRANSPORT value for UDP (RFC 8656 section 14.7)
_FIRST_RTO = 0.25  # UDP retransmission: loopback and LAN answer in well under this


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


@dataclass(frozen=True)
class ServerCheck:
    """The outcome of checking one ICE server URL (see :func:`check_ice_servers`)."""

    url: str
    seconds: float | None
    error: TurnCheckError | None

    @property
    def ok(self) -> bool:
        return self.error is None


class _StunChannel:
    """Request/response matching over one UDP socket or one TCP/TLS stream."""

    def __init__(self, send: Callable[[bytes], None], reliable: bool) -> None:
        self._send = send
        self._reliable = reliable
        self._pending: dict[bytes, asyncio.Future[stun.Message]] = {}
        self._failure: BaseException | None = None

    def feed(self, data: bytes) -> None:
        try:
            message = stun.parse_message(data)
        except ValueError:
            return
        future = self._pending.get(message.transaction_id)
        if future is not None and not future.done():
            future.set_result(message)

    def fail(self, exc: BaseException) -> None:
        self._failure = exc
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)

    async def request(self, message: stun.Message) -> stun.Message:
        if self._failure is not None:
            raise self._failure
        future: asyncio.Future[stun.Message] = asyncio.get_running_loop().create_future()
        self._pending[message.transaction_id] = future
        data = bytes(message)
        try:
            if self._reliable:
                self._send(data)
                return await future
            # UDP: retransmit with doubling intervals until the caller's deadline cancels us.
            rto = _FIRST_RTO
            while True:
                self._send(data)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), rto)
                except TimeoutError:
                    rto = min(rto * 2, 2.0)
        finally:
            self._pending.pop(message.transaction_id, None)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.channel: _StunChannel | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.channel is not None:
            self.channel.feed(data)

    def error_received(self, exc: Exception) -> None:
        # On a connected UDP socket an ICMP port-unreachable arrives as ConnectionRefusedError.
        if self.channel is not None:
            self.channel.fail(exc)


async def _read_stream(reader: asyncio.StreamReader, channel: _StunChannel) -> None:
    try:
        while True:
            header = await reader.readexactly(20)
            (length,) = struct.unpack("!H", header[2:4])
            channel.feed(header + await reader.readexactly(length))
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError) as exc:
        channel.fail(ConnectionResetError(f"connection closed by the server ({exc!r})"))


def _describe_http_error(message: stun.Message) -> tuple[int, str]:
    code, text = message.attributes.get("ERROR-CODE", (0, "no ERROR-CODE"))
    return int(code), str(text)


def _expired_hint(username: str, now: float) -> str | None:
    parsed = parse_rest_username(username)
    if parsed is None or parsed[0] > now:
        return None
    expires_at = parsed[0]
    when = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"credential expired at {when} ({int(now - expires_at)} s ago)"


class _Session:
    """One connection to a STUN/TURN server for the duration of a check."""

    def __init__(self, url: IceUrl, ssl_context: ssl.SSLContext | None) -> None:
        self.url = url
        self.ssl_context = ssl_context
        self.channel: _StunChannel | None = None
        self._close: Callable[[], None] = lambda: None
        self._reader_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        url = self.url
        try:
            infos = await loop.getaddrinfo(
                url.host,
                url.port,
                type=2 if url.transport in (None, "udp") else 1,  # SOCK_DGRAM / SOCK_STREAM
            )
        except OSError as exc:
            raise TurnCheckError(
                f"TURN/STUN server {url} could not be resolved: {exc}", reason="dns", url=url.url
            ) from exc
        address = (str(infos[0][4][0]), int(infos[0][4][1]))
        if url.transport in (None, "udp") and url.scheme in ("stun", "turn"):
            transport, protocol = await loop.create_datagram_endpoint(
                _UdpProtocol, remote_addr=address
            )
            self.channel = _StunChannel(lambda data: transport.sendto(data), reliable=False)
            protocol.channel = self.channel
            self._close = transport.close
            return
        if url.scheme in ("stuns", "turns"):
            context = self.ssl_context or ssl.create_default_context()
            reader, writer = await asyncio.open_connection(
                address[0], address[1], ssl=context, server_hostname=url.host
            )
        else:
            reader, writer = await asyncio.open_connection(address[0], address[1])
        self.channel = _StunChannel(writer.write, reliable=True)
        self._reader_task = asyncio.create_task(_read_stream(reader, self.channel))
        self._close = writer.close

    def close(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
        self._close()

    async def request(self, message: stun.Message) -> stun.Message:
        assert self.channel is not None
        return await self.channel.request(message)


def _connection_error(url: IceUrl, exc: BaseException) -> TurnCheckError:
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


async def _allocate(session: _Session, username: str, password: str) -> None:
    """Run the Allocate exchange (challenge, then authenticated request); raise on refusal."""
    url = session.url

    def allocate_request() -> stun.Message:
        request = stun.Message(
            message_method=stun.Method.ALLOCATE, message_class=stun.Class.REQUEST
        )
        request.attributes["LIFETIME"] = 60
        request.attributes["REQUESTED-TRANSPORT"] = _UDP_TRANSPORT
        return request

    response = await session.request(allocate_request())
    if response.message_class == stun.Class.RESPONSE:
        logger.warning("TURN server %s allocated without authentication: it is an open relay", url)
        await _release(session, None, None, None, None)
        return
    code, text = _describe_http_error(response)
    if code != 401 or "NONCE" not in response.attributes or "REALM" not in response.attributes:
        raise _refusal(url, username, code, text)

    realm = str(response.attributes["REALM"])
    nonce = response.attributes["NONCE"]
    key = hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()
    for _attempt in range(2):  # a 438 Stale Nonce is answered once with the new nonce
        request = allocate_request()
        request.attributes["USERNAME"] = username
        request.attributes["REALM"] = realm
        request.attributes["NONCE"] = nonce
        request.add_message_integrity(key)
        response = await session.request(request)
        if response.message_class == stun.Class.RESPONSE:
            await _release(session, username, realm, response.attributes.get("NONCE", nonce), key)
            return
        code, text = _describe_http_error(response)
        if code == 438 and "NONCE" in response.attributes:
            nonce = response.attributes["NONCE"]
            continue
        break
    raise _refusal(url, username, code, text)


async def _release(
    session: _Session, username: str | None, realm: str | None, nonce: object, key: bytes | None
) -> None:
    """Free the test allocation right away instead of letting it occupy a relay port."""
    request = stun.Message(message_method=stun.Method.REFRESH, message_class=stun.Class.REQUEST)
    request.attributes["LIFETIME"] = 0
    if username is not None and key is not None:
        request.attributes["USERNAME"] = username
        request.attributes["REALM"] = realm
        request.attributes["NONCE"] = nonce
        request.add_message_integrity(key)
    try:
        await asyncio.wait_for(session.request(request), 0.5)
    except (TimeoutError, OSError) as exc:
        logger.debug("TURN check: releasing the allocation on %s failed: %r", session.url, exc)


def _refusal(url: IceUrl, username: str, code: int, text: str) -> TurnCheckError:
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


async def _run_check(
    url: str,
    limit: float,
    ssl_context: ssl.SSLContext | None,
    turn: bool,
    exchange: Callable[[_Session], Awaitable[None]],
) -> float:
    parsed = parse_ice_url(url)
    if turn and not parsed.is_turn:
        raise ValueError(f"{url!r} is not a turn: or turns: URL")
    session = _Session(parsed, ssl_context)
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
        raise _connection_error(parsed, exc) from exc
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

    async def exchange(session: _Session) -> None:
        await _allocate(session, username, password)

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

    async def exchange(session: _Session) -> None:
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        response = await session.request(request)
        if response.message_class != stun.Class.RESPONSE:
            code, text = _describe_http_error(response)
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
