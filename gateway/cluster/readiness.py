"""Whether this node should receive new calls: the cluster's part of ``/readyz``.

A load balancer takes a node out of rotation while it is not ready and puts it back by
itself. Besides this node's own state (draining, at its limit), a cluster at its total
limit makes every node not ready. Redis being away does not: the node still serves calls on
its own, so it stays ready and says it is degraded.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.conversation.admission import Admission

from .admission import ClusterAdmission


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str | None  # stable code when not ready: draining, at_capacity, cluster_at_capacity
    message: str | None
    degraded: str | None = None  # ready, but cross-node features are paused (and why)


def readiness(admission: Admission) -> Readiness:
    """For any admission: the in-memory one (one process) or ``ClusterAdmission``."""
    if not admission.accepting:
        return Readiness(False, "draining", "the gateway is draining before shutdown")
    if admission.in_use >= admission.capacity:
        return Readiness(False, "at_capacity", f"all {admission.capacity} sessions are in use")
    refusal = cluster_refusal(admission)
    if refusal is not None:
        return Readiness(False, *refusal)
    return Readiness(True, None, None, degraded=cluster_degraded(admission))


def cluster_refusal(admission: Admission) -> tuple[str, str] | None:
    """(reason, message) when the cluster as a whole is full; None otherwise."""
    if isinstance(admission, ClusterAdmission) and admission.cluster_full():
        return ("cluster_at_capacity",
                f"the cluster is at its limit of {admission.max_total} sessions")
    return None


def cluster_degraded(admission: Admission) -> str | None:
    if isinstance(admission, ClusterAdmission) and not admission.cluster.link.up:
        return (f"redis unavailable for {admission.cluster.link.down_for:.0f} s: serving "
                "local conversations only")
    return None
