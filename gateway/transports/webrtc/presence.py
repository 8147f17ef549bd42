"""A WebRTC participant's view of the others: presence and relayed messages on its socket.

It subscribes to the participant's conversation member (``MemberListener``) and renders
what the conversation tells it as signaling messages (``signaling.calls``): first who is
already there, then joins, departures and mute changes, and the negotiation messages other
participants address to this one. Everything goes through the session's ``Outbox``, so it
follows the answer and keeps its order.

A participant whose connection is away (a resumable session waiting for its client) is still
in the conversation: the others see it with ``"reconnecting": true`` (the field is present
only then) instead of seeing it leave. A resumed participant gets a fresh ``participants``
message (``snapshot``) in place of the presence messages it missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.conversation.member import Member
from gateway.conversation.presence import (
    Participant,
    PeerUnsupported,
    PresenceEvent,
    UnknownParticipant,
)
from gateway.protocols.symbl.messages import iso
from signaling import calls
from signaling.interface import SessionError

from .outbox import Outbox


class PresenceLink:
    """Implements ``gateway.conversation.presence.MemberListener`` for one session."""

    def __init__(self, member: Member, outbox: Outbox) -> None:
        self._outbox = outbox
        self._member = member
        self._conversation_id = member.conversation.id
        self.self_id = member.id
        others = member.listen(self)
        outbox.put(self._participants(others))

    def snapshot(self) -> dict[str, Any]:
        """Who is in the conversation now, for a client that resumed after a blip."""
        member = self._member
        return self._participants(member.conversation.roster.participants(exclude=member))

    def _participants(self, others: list[Participant]) -> dict[str, Any]:
        member = self._member
        return calls.participants(self._conversation_id, self._who(member.participant),
                                  [self._who(p) for p in others],
                                  member.conversation.max_participants)

    def _who(self, participant: Participant) -> dict[str, Any]:
        who = participant.to_json()
        member = self._member.conversation.members.get(participant.id)
        if member is not None and member.reconnecting:
            who["reconnecting"] = True
        return who

    def presence(self, event: PresenceEvent) -> None:
        who, at = self._who(event.participant), iso(event.at)
        if event.kind == "joined":
            message = calls.participant_joined(self._conversation_id, who, at)
        elif event.kind == "left":
            message = calls.participant_left(self._conversation_id, who,
                                             event.reason or "left", at)
        else:
            message = calls.participant_state(self._conversation_id, who, at)
        self._outbox.put(message)

    def peer_message(self, sender: str, data: Mapping[str, Any]) -> None:
        self._outbox.put(calls.peer(sender, data))


def relay_peer(member: Member, to: str, data: Mapping[str, Any]) -> None:
    """Relay a client's ``peer`` message to participant ``to``, or say why not."""
    try:
        member.conversation.relay(member, to, data)
    except UnknownParticipant:
        raise SessionError(
            "unknown_participant",
            f"'{to[:128]}' is not another participant of this conversation (it may have "
            "left)") from None
    except PeerUnsupported:
        raise SessionError(
            "peer_unsupported",
            f"participant '{to[:128]}' does not take peer messages (acceptsPeer is false: it "
            "is in the conversation for the transcript only)") from None


PRESENCE_TYPES = frozenset({"participants", "participant_joined", "participant_left",
                            "participant_state"})


def is_presence(message: dict[str, Any]) -> bool:
    """A presence message (superseded by a fresh snapshot), as opposed to a relayed ``peer``
    message (which must still reach the client)."""
    return message.get("type") in PRESENCE_TYPES
