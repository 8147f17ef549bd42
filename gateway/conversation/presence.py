"""What a participant learns about the others in its conversation: presence and peer messages.

A transport whose clients talk to each other (the call page: browser-to-browser audio) needs
to know who else is in the conversation, who joins, who leaves (and whether they said
goodbye or dropped), who is muted, and to pass one participant's negotiation messages to
another. It subscribes to its own member with a ``MemberListener``; the conversation calls
every listener, never knowing what is behind it. Like a sink's ``send``, a listener never
blocks and never raises: a slow client must not hold up the conversation.

Consoles and relays hear the same changes as lifecycle results on the bus; this path is
for participants, and carries what must not go to every output (negotiation messages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from gateway.transcript import Speaker

LeaveReason = Literal["left", "dropped"]
"""``left``: the participant said goodbye (hung up); ``dropped``: its connection went away
(tab crashed, network lost, media failed) or the gateway ended it."""

PresenceKind = Literal["joined", "left", "state"]


@dataclass(frozen=True, slots=True)
class Participant:
    """A participant as the others see it. ``accepts_peer``: its client takes messages from
    other participants (it can hold direct audio with them); participants of other
    transports, or clients that did not ask for calls, are in the conversation for the
    transcript only."""

    speaker: Speaker
    muted: bool = False
    accepts_peer: bool = False

    @property
    def id(self) -> str:
        assert self.speaker.id is not None
        return self.speaker.id

    def to_json(self) -> dict[str, Any]:
        return {**self.speaker.to_json(), "muted": self.muted, "acceptsPeer": self.accepts_peer}


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """Someone joined, left (``reason``) or changed state (muted or unmuted)."""

    kind: PresenceKind
    participant: Participant
    at: datetime
    reason: LeaveReason | None = None


class MemberListener(Protocol):
    """A participant's client, as its conversation reaches it."""

    def presence(self, event: PresenceEvent) -> None:
        """Another participant joined, left or changed state; or this one's own state
        changed (the acknowledgement of its mute). Never blocks, never raises."""
        ...

    def peer_message(self, sender: str, data: Mapping[str, Any]) -> None:
        """Participant ``sender`` addressed ``data`` to this one. Never blocks, never raises."""
        ...


class UnknownParticipant(Exception):
    """A message addressed to someone who is not another participant of the conversation."""


class PeerUnsupported(Exception):
    """A message addressed to a participant whose client does not take them."""
