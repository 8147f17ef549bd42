"""ICE for the gateway's own peer connections and for its clients, backed by ``turn/``.

``turn/`` knows credentials, URL selection and coturn; this adapter adds what a running
gateway needs on top: one validated configuration, a TURN health check at startup and
every minute after (so a dead TURN server neither stalls every answer by aiortc's 5 s
allocation timeout nor fails silently), and a per-session diagnosis of why no relay
candidate was gathered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any, Protocol, cast

from aiortc import RTCConfiguration

from gateway.config import GatewayConfig
from gateway.observability.metrics import ICE_CHECKS
from turn.ice import (
    IceSettings,
    TransportPolicy,
    browser_ice_servers,
    gateway_rtc_configuration,
    gateway_turn_url,
)
from turn.mdns import strip_mdns_candidates
from turn.probe import check_ice_servers, diagnose_gathering

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 60.0


class IceConfigurator(Protocol):
    """ICE as a session needs it (``IceProvider``; ``NoIce`` for loopback and tests)."""

    @property
    def relay_only(self) -> bool: ...

    def client_servers(self, user: str) -> list[dict[str, Any]]: ...

    def gateway_configuration(self, user: str) -> RTCConfiguration: ...

    def prepare_offer(self, sdp: str) -> str: ...

    def unusable(self) -> str | None: ...

    async def gathering_error(self, local_sdp: str, user: str) -> str | None: ...


class NoIce:
    """No STUN/TURN: host candidates only (loopback and LAN deployments, tests)."""

    relay_only = False

    def client_servers(self, user: str) -> list[dict[str, Any]]:
        return []

    def gateway_configuration(self, user: str) -> RTCConfiguration:
        return RTCConfiguration(iceServers=[])

    def prepare_offer(self, sdp: str) -> str:
        return sdp

    def unusable(self) -> str | None:
        return None

    async def gathering_error(self, local_sdp: str, user: str) -> str | None:
        return None


class IceProvider:
    """Implements ``IceConfigurator`` from the gateway's STUN/TURN settings."""

    def __init__(self, settings: IceSettings) -> None:
        settings.validate()  # ValueError naming the flag to fix
        self.settings = settings
        self.turn_healthy = True
        self.turn_problem: str | None = None  # the last health check's TURN error
        self._no_turn = dataclasses.replace(settings, turn_urls=(), turn_secret=None)

    @classmethod
    def from_config(cls, config: GatewayConfig) -> IceProvider:
        return cls(IceSettings(
            stun_urls=config.stun_urls,
            turn_urls=config.turn_urls,
            turn_secret=config.turn_secret,
            turn_ttl=config.turn_ttl,
            transport_policy=cast(TransportPolicy, config.ice_transport_policy),
        ))

    @property
    def transport_policy(self) -> str:
        return self.settings.transport_policy

    @property
    def relay_only(self) -> bool:
        return self.settings.transport_policy == "relay"

    def client_servers(self, user: str) -> list[dict[str, Any]]:
        """Every configured server, TURN with a credential minted now for this client."""
        return browser_ice_servers(self.settings, _label(user))

    def gateway_configuration(self, user: str) -> RTCConfiguration:
        # With TURN known to be down, gathering would wait ~5 s for the allocation to time
        # out before every answer; skip it unless relay-only (where it is all there is).
        if not self.turn_healthy and not self.relay_only:
            return gateway_rtc_configuration(self._no_turn, _label(user))
        return gateway_rtc_configuration(self.settings, _label(user))

    def prepare_offer(self, sdp: str) -> str:
        """Drop ``*.local`` candidates: resolving each would stall the answer ~1 s."""
        stripped, count = strip_mdns_candidates(sdp)
        if count:
            log.debug("ignored %d mDNS candidates in an offer", count)
        return stripped

    def unusable(self) -> str | None:
        """Under relay-only, why no call can connect now (TURN known down), or None.

        Lets a session refuse at once instead of after aiortc's 5 s allocation timeout.
        """
        if self.relay_only and not self.turn_healthy:
            return self.turn_problem
        return None

    async def gathering_error(self, local_sdp: str, user: str) -> str | None:
        """Why our answer has no relay candidate although TURN is configured, or None."""
        if not self.settings.turn_urls:
            return None
        if not self.turn_healthy and not self.relay_only:
            # We left TURN out on purpose; the client should still know why.
            return self.turn_problem
        error = await diagnose_gathering(self.settings, local_sdp, user=_label(user))
        return None if error is None else str(error)

    async def check(self) -> bool:
        """Check every STUN/TURN server with a real request; log each failure clearly."""
        if not self.settings.stun_urls and not self.settings.turn_urls:
            return True
        own_turn = gateway_turn_url(self.settings)
        healthy, problem = True, None
        for result in await check_ice_servers(self.settings, user="gateway-healthcheck"):
            ICE_CHECKS.labels(_server_kind(result.url), "ok" if result.ok else "failed").inc()
            if result.ok:
                log.info("ICE server %s answered in %.0f ms", result.url,
                         (result.seconds or 0) * 1000)
            else:
                level = logging.ERROR if self.relay_only else logging.WARNING
                log.log(level, "ICE server unusable: %s", result.error)
                if own_turn is not None and result.url == own_turn.url:
                    healthy, problem = False, str(result.error)
        if healthy != self.turn_healthy:
            log.warning("TURN server %s is now %s", own_turn, "usable" if healthy else
                        "UNUSABLE: relay candidates will be missing")
        self.turn_healthy, self.turn_problem = healthy, problem
        return healthy

    async def monitor_after(self, interval: float = HEALTH_INTERVAL) -> None:
        """Re-check periodically, so a TURN outage and its recovery both show up."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except Exception:
                log.exception("ICE server check failed")


def _server_kind(url: str) -> str:
    """``stun``, ``turn`` or ``turns``: the URL's scheme, a fixed set for a metric label."""
    scheme = url.split(":", 1)[0].lower()
    return scheme if scheme in ("stun", "stuns", "turn", "turns") else "other"


def _label(user: str) -> str:
    """TURN REST usernames are ``expiry:user``: a ':' in the label would corrupt them."""
    return user.replace(":", "_")[:64] or "anonymous"
