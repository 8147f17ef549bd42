"""The gateway's ICE configuration: what browsers get, what aiortc gets, and relay-only mode.

One :class:`IceSettings` (from flags or ``GATEWAY_*`` environment variables) produces two
different things, because browsers and aiortc differ:

* browsers get *every* configured server (:func:`browser_ice_servers`), each TURN URL with a
  fresh credential, and pick the best themselves;
* aiortc uses only the first STUN and the first TURN server it can parse and silently skips the
  rest, so :func:`gateway_rtc_configuration` makes that choice explicit instead of leaving it to
  list order: the first ``stun:`` URL, and the first TURN URL by preference UDP, then TCP, then
  TLS-over-TCP (``turns:`` over UDP is never usable by aiortc).

Relay-only (``transport_policy="relay"``) is enforced by aiortc itself (its
``RTCConfiguration.iceTransportPolicy`` maps to aioice's relay policy: no host or server-reflexive
candidates are gathered, and remote mDNS candidates are ignored). :func:`relay_only_sdp` and
:func:`candidate_types` are for checking an SDP against that policy, e.g. in tests, or for
stripping non-relay candidates before handing an SDP to a peer that should only see relays.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any, Literal

from aiortc import RTCConfiguration, RTCIceServer

from .credentials import rest_credential
from .urls import IceUrl, parse_ice_url

logger = logging.getLogger(__name__)

TransportPolicy = Literal["all", "relay"]

#: Default lifetime of the credentials handed out. coturn checks a REST credential only when an
#: allocation is created (measured: refreshes and channel binds of an existing allocation keep
#: working after the credential expired), so the TTL only needs to cover the gap between fetching
#: the ICE servers and connecting, plus ICE restarts that reuse them. One hour keeps a leaked
#: credential short-lived while tolerating a page left open before the user starts talking.
DEFAULT_TURN_TTL = 3600

# The gateway's flags and variables are defined in gateway/config.py; `python -m turn`
# reads the same secret variable so one export serves both.
ENV_TURN_SECRET = "GATEWAY_TURN_SECRET"

_TURN_PREFERENCE = {("turn", "udp"): 0, ("turn", "tcp"): 1, ("turns", "tcp"): 2}


@dataclass(frozen=True)
class IceSettings:
    """STUN/TURN servers and policy for the gateway and the clients it serves.

    ``turn_secret`` is coturn's ``static-auth-secret``: with it, every TURN URL gets short-lived
    REST credentials (see :mod:`turn.credentials`) valid for ``turn_ttl`` seconds.
    """

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl: int = DEFAULT_TURN_TTL
    transport_policy: TransportPolicy = "all"

    def validate(self) -> None:
        """Raise ``ValueError`` naming the flag to fix, before any call is attempted."""
        for url in self.stun_urls:
            parsed = parse_ice_url(url)
            if parsed.is_turn:
                raise ValueError(f"--stun-url {url!r} is a TURN URL: pass it as --turn-url")
        turn = [parse_ice_url(url) for url in self.turn_urls]
        for parsed in turn:
            if not parsed.is_turn:
                raise ValueError(f"--turn-url {parsed.url!r} is not a turn: or turns: URL")
        if turn and not self.turn_secret:
            raise ValueError(
                "--turn-url needs --turn-secret (GATEWAY_TURN_SECRET): the gateway mints "
                "short-lived TURN credentials from coturn's static-auth-secret"
            )
        if self.turn_secret and not turn:
            raise ValueError("--turn-secret is set but no --turn-url is configured")
        if self.turn_ttl <= 0:
            raise ValueError(
                f"--turn-ttl must be a positive number of seconds, not {self.turn_ttl}"
            )
        if self.transport_policy not in ("all", "relay"):
            raise ValueError(
                f"--ice-transport-policy must be 'all' or 'relay', not {self.transport_policy!r}"
            )
        if self.transport_policy == "relay":
            if not turn:
                raise ValueError(
                    "--ice-transport-policy relay needs a --turn-url: with relay-only ICE "
                    "there is no way to connect without a TURN server"
                )
            if gateway_turn_url(self) is None:
                raise ValueError(
                    "--ice-transport-policy relay: none of the --turn-url values can be used by "
                    "aiortc (it needs turn: over udp/tcp or turns: over tcp, with a hostname or "
                    "IPv4 address)"
                )


def browser_ice_servers(
    settings: IceSettings, user: str, now: float | None = None
) -> list[dict[str, Any]]:
    """``RTCIceServer`` dictionaries for a browser: all servers, TURN with a fresh credential.

    The result goes into ``hello.iceServers`` and ``GET /api/ice-servers``. All TURN URLs share
    one credential (they are one coturn with one secret), so they form a single entry; the
    browser tries every URL in it. ``user`` is a label for coturn's logs and quotas (e.g. a
    session id), never a secret; ``:`` is not allowed in it.
    """
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if settings.turn_urls:
        if not settings.turn_secret:
            raise ValueError("TURN URLs are configured without --turn-secret")
        credential = rest_credential(settings.turn_secret, user, settings.turn_ttl, now)
        servers.append(
            {
                "urls": list(settings.turn_urls),
                "username": credential.username,
                "credential": credential.password,
            }
        )
    return servers


def gateway_stun_url(settings: IceSettings) -> IceUrl | None:
    """The STUN URL aiortc will use: the first plain ``stun:`` one it can parse."""
    for url in settings.stun_urls:
        parsed = parse_ice_url(url)
        if parsed.scheme == "stun" and parsed.aiortc_usable:
            return parsed
    return None


def gateway_turn_url(settings: IceSettings) -> IceUrl | None:
    """The TURN URL aiortc will use: UDP first, then TCP, then ``turns:`` over TCP.

    The gateway is a server, normally on an open network next to coturn, so UDP works for it and
    is the best transport for media (no head-of-line blocking, no TCP/TLS handshakes). TCP and
    TLS are fallbacks for deployments where only those reach the TURN server. Ties keep the
    configured order.
    """
    candidates = [parse_ice_url(url) for url in settings.turn_urls]
    usable = [u for u in candidates if u.aiortc_usable]
    if not usable:
        return None
    return min(usable, key=lambda u: _TURN_PREFERENCE[(u.scheme, u.transport or "udp")])


def _supports_transport_policy() -> bool:
    return any(f.name == "iceTransportPolicy" for f in fields(RTCConfiguration))


def gateway_rtc_configuration(
    settings: IceSettings, user: str = "gateway", now: float | None = None
) -> RTCConfiguration:
    """The ``RTCConfiguration`` for one of the gateway's own peer connections.

    Call it per connection: the TURN credential in it is minted now and expires after
    ``turn_ttl``. With no servers configured the list is empty rather than ``None``, because
    aiortc replaces ``None`` with Google's public STUN server, which is neither wanted nor
    reachable on an isolated network.
    """
    servers: list[RTCIceServer] = []
    stun_url = gateway_stun_url(settings)
    if stun_url is not None:
        servers.append(RTCIceServer(urls=stun_url.url))
    turn_url = gateway_turn_url(settings)
    if turn_url is not None:
        if not settings.turn_secret:
            raise ValueError("TURN URLs are configured without --turn-secret")
        credential = rest_credential(settings.turn_secret, user, settings.turn_ttl, now)
        servers.append(
            RTCIceServer(
                urls=_aiortc_turn_url(turn_url),
                username=credential.username,
                credential=credential.password,
            )
        )
    elif settings.turn_urls:
        logger.warning(
            "none of the TURN URLs %s can be used by aiortc; the gateway gathers no relay "
            "candidates (clients still get them)",
            ", ".join(settings.turn_urls),
        )
    if settings.transport_policy == "relay":
        if turn_url is None:
            raise ValueError("relay-only ICE needs a TURN URL that aiortc can use")
        if not _supports_transport_policy():
            raise RuntimeError(
                "this aiortc has no RTCConfiguration.iceTransportPolicy; relay-only ICE needs "
                "aiortc >= 1.16 (the version the gateway is tested with)"
            )
        from aiortc import RTCIceTransportPolicy

        return RTCConfiguration(iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    return RTCConfiguration(iceServers=servers)


def _aiortc_turn_url(url: IceUrl) -> str:
    """The URL spelled the way aiortc's own parser accepts it (explicit port and transport)."""
    return f"{url.scheme}:{url.host}:{url.port}?transport={url.transport}"


def candidate_types(sdp: str) -> Counter[str]:
    """Count the ``a=candidate`` lines of an SDP by type (host, srflx, prflx, relay).

    An offer or answer produced under the relay policy must contain only ``relay``; one with no
    candidate at all means gathering failed (see :func:`gathering_problem`).
    """
    counts: Counter[str] = Counter()
    for line in sdp.splitlines():
        typ = _candidate_type(line)
        if typ is not None:
            counts[typ] += 1
    return counts


def _candidate_type(line: str) -> str | None:
    text = line.strip()
    if text.startswith("a="):
        text = text[2:]
    if not text.startswith("candidate:"):
        return None
    parts = text.split()
    for index, part in enumerate(parts[:-1]):
        if part == "typ":
            return parts[index + 1]
    return None


def relay_only_sdp(sdp: str) -> str:
    """Remove every non-relay ``a=candidate`` line, keeping line endings as they were.

    Useful to make sure a description sent to a client that must not learn host addresses (the
    reason for relay-only deployments) carries none, whatever produced it.
    """
    lines = sdp.splitlines(keepends=True)
    kept = [line for line in lines if _candidate_type(line) in (None, "relay")]
    return "".join(kept)


def gathering_problem(local_sdp: str, settings: IceSettings) -> str | None:
    """Explain a local description that cannot connect, or return ``None`` if it looks fine.

    aiortc reports no error when the TURN server rejects it: it just produces a description
    without relay candidates. Call this on ``pc.localDescription.sdp`` after
    ``setLocalDescription``; when it returns a message, run :func:`turn.probe.check_turn` with
    the same settings to learn the precise cause (wrong secret, expired, unreachable) and send
    that to the client.
    """
    counts = candidate_types(local_sdp)
    relays = counts.get("relay", 0)
    if settings.transport_policy == "relay" and relays == 0:
        return (
            "relay-only ICE gathered no relay candidate: the TURN server "
            f"{gateway_turn_url(settings) or '(none usable)'} rejected or did not answer the "
            "gateway's allocation"
        )
    if sum(counts.values()) == 0:
        return "ICE gathered no candidates at all: no usable network interface or ICE server"
    if settings.turn_urls and relays == 0:
        return (
            f"no relay candidate from TURN server {gateway_turn_url(settings) or '(none usable)'}"
            ": clients that need TURN to reach the gateway will fail"
        )
    return None
