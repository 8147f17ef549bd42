"""A WebRTC participant's view of the others: presence and relayed messages on its socket.

It subscribes to the participant's conversation member (``MemberListener``) and renders
what the conversation tells it as signaling messages (``signaling.calls``): first who is
already there, then joins, departures and mute changes, and the negotiation messages other
participants address to this one. Everything goes through the session's ``Outbox``, so it
follows the answer and keeps its order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.conversation.member import Member
from gateway.conversation.presence import PeerUnsupported, PresenceEvent, UnknownParticipant
from gateway.protocols.symbl.messages import iso
from signaling import calls
from signaling.interface import SessionError

from .outbox import Outbox


class PresenceLink:
    """Implements ``gateway.conversation.presence.MemberListener`` for one session."""

    def __init__(self, member: Member, outbox: Outbox) -> None:
        self._outbox = outbox
        self._conversation_id = member.conversation.id
        self.self_id = member.id
        others = member.listen(self)
        outbox.put(calls.participants(self._conversation_id, member.participant.to_json(),
                                      [p.to_json() for p in others],
                                      member.conversation.max_participants))

    def presence(self, event: PresenceEvent) -> None:
        who, at = event.participant.to_json(), iso(event.at)
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
