"""Whether an offer may join: its start config, and why a full conversation refuses it.

Every refusal here happens before anything is set up for the offer, so it is ``retryable``:
the client may correct its config, or pick another conversation, and offer again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.conversation.conversation import ConversationFull
from gateway.conversation.insights import InsightsBuilder, InsightsProvider
from gateway.conversation.start_config import (
    StartConfig,
    UnsupportedLanguage,
    check_language,
    parse_start_config,
)
from gateway.relays.choice import DownstreamPolicy
from signaling.interface import SessionError


def validate_config(config: Mapping[str, Any], provider: InsightsProvider | None,
                    language: str, *, downstreams: DownstreamPolicy | None = None,
                    ) -> tuple[StartConfig, InsightsBuilder | None]:
    """The offer's start config and its insights builder, or ``SessionError`` naming the
    field (``invalid_config``) or the language (``unsupported_language``)."""
    try:
        start = parse_start_config(config, downstreams=downstreams)
        build = provider.prepare(start) if provider is not None else None
        check_language(start, language)
    except UnsupportedLanguage as exc:
        raise SessionError("unsupported_language", str(exc), retryable=True) from None
    except ValueError as exc:  # ConfigError, and insights config errors naming a field
        raise SessionError("invalid_config", str(exc), retryable=True) from None
    return start, build


def full_message(exc: ConversationFull) -> str:
    """Why a joiner was refused, and what to do about it, in words for people."""
    if exc.limit is None:
        return str(exc)
    if exc.limit == 2:
        return (f"conversation {exc.conversation_id} is a two-person call and both places "
                "are taken; the gateway allows more callers per conversation with "
                "--max-participants (env GATEWAY_MAX_PARTICIPANTS)")
    return (f"conversation {exc.conversation_id} is full: it has its maximum of {exc.limit} "
            "callers (the gateway's --max-participants, env GATEWAY_MAX_PARTICIPANTS)")
