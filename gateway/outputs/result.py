"""The Result every output receives (placeholder copy of ARCH.md's interface).

The lead's version replaces this file at merge; it is here so the store can be coded and
tested against the exact dataclass the rest of the gateway will publish.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Result:
    """One message of a conversation, built once and serialised once for every output."""

    conversation_id: str
    body: Mapping[str, Any]
    text: str
    seq: int
    origin: str | None = None
    audience: Literal["participant", "conversation"] = "conversation"
    kind: Literal["symbl", "lifecycle"] = "symbl"
    at: float = 0.0

    @classmethod
    def of(cls, conversation_id: str, body: Mapping[str, Any], seq: int, **kw: Any) -> Result:
        """Serialise ``body`` once (compact, UTF-8 kept) and build the result."""
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        return cls(conversation_id, body, text, seq, **kw)
