"""Insights engine: questions, action items, follow-ups, topics, trackers, sentiment,
punctuation and call analytics from final phrases, in Symbl's real-time message shapes.

See docs/insights.md for the messages and how quality is measured.
"""

from .config import (
    ACCEPTED_INSIGHT_TYPES,
    GATEWAY_DEFAULTS,
    INSIGHT_TYPES,
    SYMBL_DEFAULTS,
    InsightsConfig,
    InsightsConfigError,
    Tracker,
    parse_insights_config,
)
from .engine import Analysis, InsightsEngine

__all__ = [
    "ACCEPTED_INSIGHT_TYPES",
    "GATEWAY_DEFAULTS",
    "INSIGHT_TYPES",
    "SYMBL_DEFAULTS",
    "Analysis",
    "InsightsConfig",
    "InsightsConfigError",
    "InsightsEngine",
    "Tracker",
    "parse_insights_config",
]
