"""The insights engine as a conversation uses it, and the provider that builds it.

Kept apart so conversations depend on small protocols, not on the engine's construction
details, and so a deployment can run transcripts only (``--no-insights``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from gateway.insights import InsightsEngine, parse_insights_config
from gateway.outputs.result import Message
from gateway.transcript import Phrase, Speaker

from .start_config import StartConfig


class PhraseAnalysis(Protocol):
    """What the insights engine returns for one final phrase."""

    content: str
    sentiment: dict[str, Any]
    messages: list[Message]


class ConversationInsights(Protocol):
    """The insights engine as a conversation uses it (``gateway.insights.InsightsEngine``)."""

    def punctuate(self, raw_text: str, *, final: bool = True) -> str: ...

    def add_participant(self, speaker: Speaker) -> None: ...

    def feed(self, phrase: Phrase) -> PhraseAnalysis: ...

    def analytics(self) -> Message | None: ...

    def finish(self) -> list[Message]: ...


InsightsBuilder = Callable[[datetime], ConversationInsights]
"""Builds the engine once the conversation clock starts (first audio)."""


class InsightsProvider(Protocol):
    """Validates a client's insight settings at start, builds the engine when audio flows."""

    def prepare(self, start: StartConfig) -> InsightsBuilder:
        """Raise ``ConfigError`` (or ``ValueError``) for bad settings."""
        ...


class DefaultInsightsProvider:
    """``gateway.insights`` with the client's settings from its start config."""

    def prepare(self, start: StartConfig) -> InsightsBuilder:
        config = parse_insights_config(start.raw)  # InsightsConfigError is a ValueError

        def build(stream_start: datetime) -> ConversationInsights:
            return InsightsEngine(config, stream_start)

        return build
