"""Assembling a cluster node for the app factory (``gateway/app.py``).

The bus and admission exist from ``create_app`` on (handlers and the subscribe policy hold
them); Redis is first contacted in ``context``, a cleanup context that runs before the
conversations' and leaves the cluster after them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.conversation.capacity import CapacityEstimator
from signaling.interface import SessionFactory

from .admission import ClusterAdmission
from .bus import RedisBus
from .cluster import Cluster
from .config import ClusterConfig
from .directory import ClusterDirectory
from .routing import ClusterSessionFactory


@dataclass
class ClusterNode:
    """This node's cluster parts (``app[CLUSTER_KEY]``, absent in one-process mode)."""

    cluster: Cluster
    bus: RedisBus
    admission: ClusterAdmission

    @classmethod
    def build(cls, config: ClusterConfig, max_sessions: int | None, *,
              estimator: CapacityEstimator | None = None) -> ClusterNode:
        config.check()
        cluster = Cluster(config)
        return cls(cluster, RedisBus(cluster),
                   ClusterAdmission(max_sessions, cluster, estimator=estimator))

    def directory(self, **kwargs: Any) -> ClusterDirectory:
        """``LocalDirectory``'s keyword arguments (run, outputs, limits); bus is ours."""
        return ClusterDirectory(self.cluster, bus=self.bus, **kwargs)

    def session_factory(self, inner: SessionFactory,
                        directory: ClusterDirectory) -> ClusterSessionFactory:
        return ClusterSessionFactory(inner, self.cluster, directory, self.admission)

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """Cleanup context: join the cluster (even with Redis away: it is retried), leave."""
        self.bus.start()
        await self.cluster.start()
        yield
        self.admission.drain()
        await self.bus.stop()
        await self.cluster.stop()


CLUSTER_KEY = web.AppKey("cluster", ClusterNode)
"""Handlers reach the cluster through this key (``app.get(CLUSTER_KEY)`` is None without
--redis-url): e.g. ``resume_redirect(app[CLUSTER_KEY].cluster, session_id)``."""
