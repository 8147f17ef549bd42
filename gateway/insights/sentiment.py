"""Per-message sentiment in Symbl's shape, from VADER.

VADER is a lexicon (shipped inside the package, nothing downloaded), fast, and built for
short informal text, which is what a phrase of speech is. Symbl's suggested-label cut-offs
(±0.3) are kept so clients tuned against Symbl keep working.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

POSITIVE_ABOVE = 0.3
NEGATIVE_BELOW = -0.3
# VADER's cost grows with length; sentiment of a wall of text is meaningless anyway.
MAX_SENTIMENT_WORDS = 300


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    # Read-only after construction, so sharing it between engines is safe.
    return SentimentIntensityAnalyzer()


def suggested(score: float) -> str:
    if score > POSITIVE_ABOVE:
        return "positive"
    if score < NEGATIVE_BELOW:
        return "negative"
    return "neutral"


def sentiment(text: str) -> dict[str, Any]:
    """``{"polarity": {"score": s}, "suggested": label}`` with ``s`` in [-1, 1]."""
    words = text.split()
    if not words:
        score = 0.0
    else:
        clipped = " ".join(words[:MAX_SENTIMENT_WORDS])
        score = float(_analyzer().polarity_scores(clipped)["compound"])
    score = max(-1.0, min(1.0, round(score, 4)))
    return {"polarity": {"score": score}, "suggested": suggested(score)}
