"""The subscribe socket's wire format (``GET /subscribe/{conversationId}``, docs/protocol.md).

A subscriber gets ``subscribed`` first, then every Symbl-shaped result of the conversation
exactly as participants receive them, and ``conversation_ended`` last, before the close.
"""

from __future__ import annotations

from gateway.outputs.result import Result, to_json


def subscribed(conversation_id: str) -> str:
    return to_json({"type": "subscribed", "conversationId": conversation_id})


def conversation_ended(conversation_id: str) -> str:
    return to_json({"type": "conversation_ended", "conversationId": conversation_id})


def error(code: str, message: str) -> str:
    return to_json({"type": "error", "code": code, "message": message})


def serialize(result: Result) -> str | None:
    """A result as a subscriber receives it; None for what subscribers do not get."""
    if result.kind == "symbl":
        return result.text
    if result.type == "conversation_ended":
        return conversation_ended(result.conversation_id)
    return None
