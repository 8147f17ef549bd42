"""The ``redirect`` signaling message: go to another node and offer there again.

Sent on ``/ws`` in reply to an offer the node will not serve itself, just before an
``error`` with code ``redirected`` (so a client that does not know ``redirect`` still gets a
clear error naming the URL) and the close. ``url`` is the other node's WebSocket URL, built
from its ``--node-url`` (a per-node host name, or the load balancer's URL with a routing
parameter such as ``?node=b``); the client reconnects there and repeats its offer as is.
"""

from __future__ import annotations

from typing import Any, Literal

from signaling.interface import SessionError

from . import locate
from .cluster import Cluster
from .nodes import NodeInfo

Reason = Literal["conversation_elsewhere", "node_busy", "session_elsewhere"]
REDIRECTED = "redirected"


def redirect_message(reason: Reason, node_id: str, url: str, *,
                     conversation_id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "redirect", "reason": reason, "url": url,
                               "nodeId": node_id}
    if conversation_id is not None:
        message["conversationId"] = conversation_id
    return message


def redirected_error(reason: Reason, node_id: str, url: str) -> SessionError:
    why = {"conversation_elsewhere": "this conversation is hosted on node",
           "node_busy": "this node is full; node",
           "session_elsewhere": "this session belongs to node"}[reason]
    return SessionError(REDIRECTED, f"{why} {node_id} has it: reconnect to {url} and send the "
                        "offer again", fatal=True)


async def resume_redirect(cluster: Cluster, session_id: str) -> dict[str, Any] | None:
    """For session resume: the ``redirect`` message when ``session_id`` belongs to another
    live node (None: it is this node's, or unknown, so handle it here)."""
    owner: NodeInfo | None = await locate.lookup_session_owner(cluster, session_id)
    if owner is None or owner.id == cluster.node_id:
        return None
    conversation = await locate.session_conversation(cluster, session_id)
    return redirect_message("session_elsewhere", owner.id, owner.ws_url(),
                            conversation_id=conversation)
