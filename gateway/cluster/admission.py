"""``ClusterAdmission``: session limits per node and across the cluster.

``admit`` stays synchronous (the transport calls it on a connection's first byte): this
node's count is exact, the other nodes' counts come from the heartbeat view, at most one
beat old. A node at its own limit refuses with ``server_busy`` as before, and ``elsewhere``
names the least-loaded node with room, so the transport can send the client there instead;
when the whole cluster is at ``--cluster-max-sessions`` every node refuses. Without a fresh
view (Redis away) only the node's own limit applies.
"""

from __future__ import annotations

from gateway.conversation.admission import LocalAdmission, Refused, Ticket
from gateway.conversation.capacity import CapacityEstimator

from .cluster import Cluster, Load
from .nodes import NodeInfo, least_loaded


class ClusterAdmission(LocalAdmission):
    """Implements ``Admission`` for a node of a cluster."""

    def __init__(self, max_sessions: int | None, cluster: Cluster, *,
                 estimator: CapacityEstimator | None = None) -> None:
        super().__init__(max_sessions, estimator=estimator)
        self.cluster = cluster
        self.max_total = cluster.config.max_sessions_total
        cluster.load = self.beat_load

    def beat_load(self) -> Load:
        """What this node's heartbeat tells the others (``load()`` is the local detail)."""
        load = self.load()
        return Load(load.capacity, load.in_use, load.accepting)

    def cluster_in_use(self) -> int:
        """Sessions across the cluster: ours exactly, the others' as of their last beat."""
        return self.in_use + self.cluster.others_in_use()

    def cluster_full(self) -> bool:
        return bool(self.max_total) and self.cluster.view_fresh and \
            self.cluster_in_use() >= self.max_total

    def admit(self, kind: str) -> Ticket:
        if self.accepting and self.cluster_full():
            self._refuse(kind, "server_busy")
            raise Refused("server_busy", f"the cluster is at its limit of {self.max_total} "
                          "sessions; try again later")
        ticket = super().admit(kind)
        self.cluster.wake()
        return ticket

    def elsewhere(self) -> NodeInfo | None:
        """When this node is full: the live node with the most room, if the cluster has any."""
        if self.cluster_full():
            return None
        return least_loaded(self.cluster.nodes(), exclude=self.cluster.node_id)

    def drain(self) -> None:
        super().drain()
        self.cluster.wake()  # others stop sending participants here at once

    def _release(self, ticket: Ticket) -> None:
        super()._release(ticket)
        self.cluster.wake()
