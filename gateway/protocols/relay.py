"""The results relay's wire format (docs/relay.md): Symbl results framed by an envelope.

Every connection starts with ``conversation_started``; then each Symbl-shaped result exactly
as the data channel carries it; the last message of a conversation is
``conversation_ended``. The gateway's lifecycle events are not part of this protocol.
"""

from __future__ import annotations

from gateway.outputs.result import Result, to_json


def conversation_started(conversation_id: str, meeting_title: str | None) -> str:
    return to_json({"type": "conversation_started", "conversationId": conversation_id,
                    "meetingTitle": meeting_title})


def conversation_ended(conversation_id: str) -> str:
    return to_json({"type": "conversation_ended", "conversationId": conversation_id})


def serialize(result: Result) -> str | None:
    """A result as the relay sends it; None for what the relay does not carry."""
    return result.text if result.kind == "symbl" else None
