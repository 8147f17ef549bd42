"""The unit every output receives: one message of a conversation, serialised once."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Message = dict[str, Any]
Audience = Literal["participant", "conversation"]
Kind = Literal["symbl", "lifecycle"]


def to_json(body: Mapping[str, Any]) -> str:
    """The one JSON encoding every output uses (compact, UTF-8 as is)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Result:
    """One message of a conversation, built once and serialised once for every output.

    ``audience`` says who among the participants gets it: ``participant`` results (live
    partials, ``recognition_started``/``stopped``) go to their origin's own client only;
    ``conversation`` results (finals as messages, insights, analytics) to every participant.
    Conversation-level outputs (consoles, relays, the store) see every result.
    ``kind`` separates Symbl-shaped results from the gateway's own lifecycle events
    (``conversation_started``, ``participant_joined``, ``participant_left``,
    ``conversation_ended``), which each wire protocol renders its own way or not at all.
    """

    conversation_id: str
    body: Mapping[str, Any]
    text: str
    seq: int
    origin: str | None = None
    audience: Audience = "conversation"
    kind: Kind = "symbl"
    at: float = 0.0

    @classmethod
    def of(cls, conversation_id: str, body: Mapping[str, Any], seq: int, *,
           origin: str | None = None, audience: Audience = "conversation",
           kind: Kind = "symbl", at: float | None = None) -> Result:
        """Build and serialise; raises ``TypeError``/``ValueError`` for a body JSON refuses.

        ``at`` defaults to now (a replay or a test may give the original time)."""
        return cls(conversation_id, body, to_json(body), seq, origin, audience, kind,
                   time.time() if at is None else at)

    @property
    def type(self) -> str:
        """The body's ``type`` (for Symbl ``message`` bodies, the inner message's type)."""
        kind = str(self.body.get("type", ""))
        inner = self.body.get("message")
        if kind == "message" and isinstance(inner, Mapping):
            return str(inner.get("type", kind))
        return kind

    def for_participant(self, participant_id: str) -> bool:
        """Whether a participant's own client gets this result."""
        return self.audience == "conversation" or self.origin == participant_id
