"""ICE configuration for the gateway's own peer connections and for its clients.

A thin adapter over ``turn/`` (credentials, server selection, relay-only policy): the
session code asks this for an ``RTCConfiguration`` and for what to put in ``hello``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer

from .config import GatewayConfig


@dataclass(frozen=True)
class IceProvider:
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl: int = 86400
    transport_policy: str = "all"

    @classmethod
    def from_config(cls, config: GatewayConfig) -> IceProvider:
        return cls(config.stun_urls, config.turn_urls, config.turn_secret, config.turn_ttl,
                   config.ice_transport_policy)

    def client_servers(self, user: str) -> list[dict[str, Any]]:
        servers: list[dict[str, Any]] = []
        if self.stun_urls:
            servers.append({"urls": list(self.stun_urls)})
        return servers

    def gateway_configuration(self) -> RTCConfiguration:
        # No servers configured means none: aiortc would otherwise reach for a public STUN.
        servers = [RTCIceServer(urls=self.stun_urls[0])] if self.stun_urls else []
        return RTCConfiguration(iceServers=servers)

    def prepare_offer(self, sdp: str) -> str:
        return sdp
