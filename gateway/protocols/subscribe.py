"""The subscribe socket's wire format (``GET /subscribe/{conversationId}``, docs/protocol.md).

A subscriber gets ``subscribed`` first, then every Symbl-shaped result of the conversation
exactly as participants receive them, and ``conversation_ended`` last, before the close.

Two additions are sent only to subscribers that ask for them (query parameters), so a
client written against the contract above sees exactly that contract:

- ``presence=1``: the gateway's lifecycle events as they happen (``conversation_started``,
  ``participant_joined``, ``participant_left``, ``participant_state``), bodies as published;
- ``snapshot=1``: one ``snapshot`` right after ``subscribed``: the conversation's summary
  and its recent results, so a console opening a call midway shows what was said.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.outputs.result import Result, to_json

PRESENCE = frozenset({"conversation_started", "participant_joined", "participant_left",
                      "participant_state"})


def subscribed(conversation_id: str) -> str:
    return to_json({"type": "subscribed", "conversationId": conversation_id})


def conversation_ended(conversation_id: str) -> str:
    return to_json({"type": "conversation_ended", "conversationId": conversation_id})


def snapshot(conversation_id: str, summary: Mapping[str, Any] | None,
             results: Sequence[Mapping[str, Any]]) -> str:
    """What the conversation holds so far; ``conversation`` is null when it is not live."""
    return to_json({"type": "snapshot", "conversationId": conversation_id,
                    "conversation": summary, "results": list(results)})


def error(code: str, message: str) -> str:
    return to_json({"type": "error", "code": code, "message": message})


def serialize(result: Result, *, presence: bool = False) -> str | None:
    """A result as a subscriber receives it; None for what subscribers do not get."""
    if result.kind == "symbl":
        return result.text
    if result.type == "conversation_ended":
        return conversation_ended(result.conversation_id)
    if presence and result.type in PRESENCE:
        return result.text
    return None
