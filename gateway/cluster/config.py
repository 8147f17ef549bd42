"""Cluster options: whether this gateway shares its state with others through Redis.

Without ``--redis-url`` the gateway is one process with everything in memory (the embedded
default). With it, the node registers itself, publishes every result to a Redis stream and
sends participants to the node that hosts their conversation; ``--node-url`` is what those
participants are sent to, so it is required (a guessed URL would strand callers).
"""

from __future__ import annotations

import argparse
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gateway.envvars import env_int

NODE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def default_node_id() -> str:
    """Host name plus a short random suffix: two processes on one host never collide."""
    host = "".join(c for c in socket.gethostname() if c in NODE_ID_CHARS)[:40] or "node"
    return f"{host}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Who this node is and how it reaches the others (``redis_url`` None: one process)."""

    redis_url: str | None = field(default=None, repr=False)  # may carry a password
    node_id: str = ""  # "" : chosen at start (default_node_id)
    node_url: str | None = None  # public base URL (http(s)://…) participants are sent to
    max_sessions_total: int = 0  # 0: only each node's own --max-sessions
    prefix: str = "gw:"  # key prefix, so deployments can share one Redis
    heartbeat: float = 2.0  # seconds between node heartbeats (load, leases)
    node_ttl: float = 6.0  # a node missing this long is dead; its leases lapse with it
    resume_window: float = 60.0  # how long a closed session's owner stays known
    stream_maxlen: int = 10_000  # results kept per conversation stream (approximate trim)
    stream_ttl: float = 3600.0  # a stream's lifetime after its conversation ended
    outbox: int = 10_000  # results waiting for Redis while it is away (then oldest dropped)

    @property
    def enabled(self) -> bool:
        return bool(self.redis_url)

    def check(self) -> None:
        """ValueError naming what to fix (the CLI turns it into ``error: …``)."""
        if not self.redis_url:
            return
        scheme = urlsplit(self.redis_url).scheme
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"--redis-url must be redis://, rediss:// or unix://, got {scheme!r}")
        if not self.node_url:
            raise ValueError("--node-url is required with --redis-url: it is the public URL "
                             "participants of this node's conversations are sent to")
        check_node_url(self.node_url)
        if set(self.node_id) - NODE_ID_CHARS or len(self.node_id) > 64:
            raise ValueError(f"--node-id must be 1-64 letters, digits, '-', '_' or '.', "
                             f"got {self.node_id!r}")
        if self.node_ttl <= self.heartbeat:
            raise ValueError("the node TTL must be longer than the heartbeat interval")


def check_node_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--node-url must be an http:// or https:// URL with a host, got {url!r}")
    return url


def add_cluster_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str]) -> None:
    g = parser.add_argument_group("several nodes (docs/deployment.md)")
    g.add_argument("--redis-url", default=env.get("GATEWAY_REDIS_URL") or None,
                   help="share conversations, results and admission with other nodes through "
                   "this Redis (redis://[:password@]host:port/db); without it the gateway is "
                   "one process with no Redis (env GATEWAY_REDIS_URL)")
    g.add_argument("--node-id", default=env.get("GATEWAY_NODE_ID") or None,
                   help="this node's name in the cluster, stable across restarts so a load "
                   "balancer can route to it (env GATEWAY_NODE_ID; default host name plus a "
                   "random suffix)")
    g.add_argument("--node-url", default=env.get("GATEWAY_NODE_URL") or None,
                   help="public URL of this node, where participants of its conversations are "
                   "sent, e.g. https://gw.example.com/?node=a (env GATEWAY_NODE_URL; required "
                   "with --redis-url)")
    g.add_argument("--cluster-max-sessions", type=int,
                   default=env_int(env, "GATEWAY_CLUSTER_MAX_SESSIONS", 0),
                   help="sessions across all nodes before every node answers 'server_busy'; "
                   "0 = only each node's --max-sessions (env GATEWAY_CLUSTER_MAX_SESSIONS)")


def cluster_config_from_args(args: argparse.Namespace) -> ClusterConfig:
    """Raises ValueError (for ``parser.error``) when the combination cannot work."""
    config = ClusterConfig(
        redis_url=args.redis_url,
        node_id=args.node_id or (default_node_id() if args.redis_url else ""),
        node_url=args.node_url,
        max_sessions_total=max(0, args.cluster_max_sessions),
    )
    config.check()
    return config

