"""Whether an offer may join: its start config, its SDP, the ICE it needs, and a place in
its conversation (and why a full conversation refuses it).

Every refusal here happens before anything is set up for the offer, so (but for an unusable
TURN server under relay-only) it is ``retryable``: the client may correct its config, or
pick another conversation, and offer again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from gateway.conversation.conversation import ConversationFull
from gateway.conversation.insights import InsightsBuilder, InsightsProvider
from gateway.conversation.member import Member
from gateway.conversation.start_config import (
    StartConfig,
    UnsupportedLanguage,
    check_language,
    parse_start_config,
)
from gateway.relays.choice import DownstreamPolicy
from signaling.interface import SessionError

from . import peer
from .services import SessionServices


def check(services: SessionServices, config: Mapping[str, Any],
          offer_sdp: str) -> tuple[StartConfig, InsightsBuilder | None]:
    """The offer's start config and insights builder, once the offer is found usable."""
    relays = services.relays
    start, build_insights = validate_config(
        config, services.insights, services.settings.language,
        downstreams=relays.policy if relays else None)
    peer.check_offer(offer_sdp)
    blocked = services.ice.unusable()
    if blocked is not None:
        raise SessionError("turn_unavailable", blocked, fatal=True)
    return start, build_insights


def join(services: SessionServices, participant_id: str, start: StartConfig,
         build_insights: InsightsBuilder | None, features: frozenset[str]) -> Member:
    """Join the start config's conversation as participant ``participant_id``."""
    speaker = dataclasses.replace(start.speaker, id=participant_id)
    try:
        member = services.directory.join(speaker, start, build_insights,
                                         accepts_peer="peer" in features)
    except ConversationFull as exc:
        raise SessionError("conversation_full", full_message(exc), retryable=True,
                           details={"maxParticipants": exc.limit} if exc.limit else None
                           ) from None
    return member


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
