"""Server-to-client messages of calls between participants: presence and relayed messages.

Participants of a conversation learn who else is there (``participants``, once, right after
the answer), who joins, leaves or mutes (``participant_joined``, ``participant_left``,
``participant_state``), and receive what another participant addressed to them (``peer``),
so browsers can negotiate a direct audio connection through this same socket. A participant
is ``{"id", "userId", "name", "muted"}`` (``userId``/``name`` only when the client gave
them); ``id`` is that participant's ``sessionId``. Times are ISO-8601 UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Participant = Mapping[str, Any]


def participants(conversation_id: str, you: Participant, others: list[Participant],
                 max_participants: int) -> dict[str, Any]:
    """Who is already in the conversation (``others``, in joining order), sent once."""
    return {"type": "participants", "conversationId": conversation_id, "you": dict(you),
            "participants": [dict(p) for p in others], "maxParticipants": max_participants}


def participant_joined(conversation_id: str, participant: Participant, at: str
                       ) -> dict[str, Any]:
    return {"type": "participant_joined", "conversationId": conversation_id,
            "participant": dict(participant), "at": at}


def participant_left(conversation_id: str, participant: Participant, reason: str, at: str
                     ) -> dict[str, Any]:
    """``reason``: ``left`` (hung up) or ``dropped`` (connection lost, or ended by the server)."""
    return {"type": "participant_left", "conversationId": conversation_id,
            "participant": dict(participant), "reason": reason, "at": at}


def participant_state(conversation_id: str, participant: Participant, at: str
                      ) -> dict[str, Any]:
    """A participant's state changed (``participant.muted``); also the reply to ``mute``."""
    return {"type": "participant_state", "conversationId": conversation_id,
            "participant": dict(participant), "at": at}


def peer(sender: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` from participant ``sender``, exactly as it sent it."""
    return {"type": "peer", "from": sender, "data": data}
