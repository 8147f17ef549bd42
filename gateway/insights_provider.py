"""Adapts ``gateway.insights`` to the session's ``InsightsProvider`` seam.

Kept apart so the session depends on a two-method protocol, not on the engine's
construction details, and so a deployment can run transcripts only (``--no-insights``).
"""

from __future__ import annotations

from datetime import datetime

from .conversation import ConversationInsights, InsightsBuilder
from .insights import InsightsEngine, parse_insights_config
from .start_config import StartConfig


class DefaultInsightsProvider:
    def prepare(self, start: StartConfig) -> InsightsBuilder:
        config = parse_insights_config(start.raw)  # InsightsConfigError is a ValueError

        def build(stream_start: datetime) -> ConversationInsights:
            return InsightsEngine(config, stream_start)

        return build


def default_insights_provider() -> DefaultInsightsProvider:
    return DefaultInsightsProvider()
