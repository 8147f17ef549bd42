"""What the gateway runs with: options users set (``GatewayConfig``) and internal tunables
that tests and benchmarks adjust (``SessionSettings``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from gateway.asr.config import RecognitionConfig
from gateway.auth.config import AuthConfig
from gateway.cluster.config import ClusterConfig
from gateway.relays.config import RelayConfig
from turn.ice import DEFAULT_TURN_TTL


def default_database(env: Mapping[str, str] | None = None) -> str:
    """The embedded store's file: ``$XDG_DATA_HOME/conversation-gateway/conversations.db``."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "conversation-gateway" / "conversations.db")


def default_web_root() -> Path:
    """The pages, shipped inside the package (``gateway/web`` links to the top-level web/)."""
    return Path(str(files("gateway") / "web"))


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    model: str | None = None
    model_url: str | None = None
    log_level: str = "info"
    language: str = "en-US"
    max_sessions: int | None = None  # None: the measured capacity (admission)
    max_participants: int = 2  # callers per conversation; more make the page's call a mesh
    resume_grace: float = 30.0  # seconds a dropped client may resume its session; 0: never
    workers: int = 0  # 0: one per core
    insights: bool = True
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl: int = DEFAULT_TURN_TTL
    ice_transport_policy: str = "all"
    relay_url: str | None = None
    relay_token: str | None = field(default=None, repr=False)
    database: str | None = None  # None: no store (the CLI's default is a file, see flags)
    retention_days: float | None = None
    abandoned_after: float = 300.0  # seconds before a killed gateway's open conversation ends
    auth: AuthConfig = field(default_factory=AuthConfig)  # open unless an apps file is given
    recognition: RecognitionConfig = field(default_factory=RecognitionConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)  # one process unless Redis
    relays: RelayConfig = field(default_factory=RelayConfig)  # downstreams, --asr
    log_format: str = "text"
    drain_timeout: float = 60.0
    web_root: Path = field(default_factory=default_web_root)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Per-session tunables: not flags, but benchmarks and tests set them."""

    language: str = "en-US"
    chunk_ms: int = 100
    partial_interval: float = 0.0  # a partial after every feed whose text changed
    backlog_seconds: float = 10.0
    analytics_interval: float = 10.0
    connect_timeout: float = 30.0
    stop_timeout: float = 10.0
    offer_timeout: float = 30.0  # signaling: time a new connection has to offer

    @property
    def backlog_chunks(self) -> int:
        return max(1, int(self.backlog_seconds * 1000 / self.chunk_ms))
