"""``ClusterDirectory``: conversations across nodes, each hosted whole on one node.

A conversation lives in one process: its clock, its insights engine and, for one-on-one
calls, the signaling that connects its participants' browsers. So instead of sharing a
conversation's state between nodes, a participant who lands on another node is sent to
the owning node (``place`` raises ``ConversationElsewhere`` with its URL). Ownership is an
atomic claim in Redis with a lease the owner's heartbeat renews; a node that dies loses its
leases within the node TTL and the next participant's node takes the conversation over.
"""

from __future__ import annotations

from typing import Any

from gateway.conversation.conversation import Conversation
from gateway.conversation.directory import ConversationElsewhere, LocalDirectory
from gateway.conversation.insights import InsightsBuilder
from gateway.conversation.member import Member
from gateway.conversation.start_config import StartConfig
from gateway.transcript import Speaker

from . import locate
from .bus import RedisBus
from .cluster import Cluster, Hosted


class ClusterDirectory(LocalDirectory):
    """Implements ``ConversationDirectory`` for a node of a cluster."""

    def __init__(self, cluster: Cluster, *, bus: RedisBus, **kwargs: Any) -> None:
        super().__init__(bus=bus, **kwargs)
        self._bus: RedisBus = bus
        self._cluster = cluster
        bus.is_local = self._is_live
        cluster.hosted = self.hosted

    async def place(self, conversation_id: str | None) -> None:
        """Claim the conversation for this node, or raise ``ConversationElsewhere``.

        A new private conversation (no id) is always hosted here. If Redis cannot be
        reached the conversation is hosted here too: calls keep working, and the heartbeat
        records it once Redis is back.
        """
        if conversation_id is None or self._is_live(conversation_id):
            return
        owner = await locate.claim(self._cluster, conversation_id)
        if owner is not None and owner.id != self._cluster.node_id:
            raise ConversationElsewhere(conversation_id, owner.id, owner.ws_url())

    def join(self, speaker: Speaker, start: StartConfig,
             insights: InsightsBuilder | None, *, accepts_peer: bool = False) -> Member:
        member = super().join(speaker, start, insights, accepts_peer=accepts_peer)
        # Hosted here now: its outputs (relays, consoles that came early) get the local
        # fan-out, so nothing here needs to read its stream back.
        self._bus.reader.unfollow(member.conversation.id)
        self._cluster.wake()  # its lease and participants reach Redis now, not next beat
        return member

    def hosted(self) -> list[Hosted]:
        return [Hosted(c.id, {pid: m.speaker.to_json() for pid, m in c.members.items()})
                for c in self.live()]

    def _is_live(self, conversation_id: str) -> bool:
        conversation = self.conversations.get(conversation_id)
        return conversation is not None and not conversation.ended

    def _ended(self, conversation: Conversation) -> None:
        super()._ended(conversation)
        self._cluster.released(conversation.id)
