"""Key phrases of the conversation so far, kept up to date as phrases arrive.

YAKE (statistical, no model files) extracts candidates from each new chunk of speech; a
running table accumulates them across chunks so a topic mentioned throughout the call
outranks one mentioned once. Extraction runs once enough new words have arrived, which
keeps the per-phrase cost low; the merged ranking is cheap and runs every time.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field

import yake

from .dates import MONTHS, WEEKDAYS
from .patterns import TASK_VERBS
from .textnorm import fold, stem

log = logging.getLogger(__name__)

# Extract once this many new words have accumulated (and at the end of the conversation).
MIN_NEW_WORDS = 30
# A chunk longer than this keeps only its most recent words: bounded cost per extraction.
MAX_CHUNK_WORDS = 400
CANDIDATES_PER_CHUNK = 8
MAX_TOPICS = 10
MAX_NGRAM = 2
# Conversation filler that YAKE's stop list does not know; never a topic on its own.
FILLER_WORDS: frozenset[str] = (
    frozenset(
        """yeah okay ok um uh yes no right sure thing things lot stuff guy guys kind sort
    gonna wanna gotta hey hi hello thanks thank bye time today tomorrow week day
    morning afternoon call meeting question questions point bit way sense""".split()
    )
    | frozenset(WEEKDAYS)
    | frozenset(MONTHS)
)  # dates are when, not what
TOPIC_NAMESPACE = uuid.UUID("6f1c5d3e-8a7b-4c2e-9d10-3b1f0e6a2c55")
_VERBS: frozenset[str] = frozenset(v for v in TASK_VERBS if " " not in v)
_WORD = re.compile(r"[^\W\d_][\w']*", re.UNICODE)


@dataclass
class _Topic:
    phrase: str
    weight: float = 0.0
    message_ids: list[str] = field(default_factory=list)


def topic_key(phrase: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in phrase.split())


class TopicTracker:
    """Running key-phrase table for one conversation."""

    def __init__(self) -> None:
        self._extractor = yake.KeywordExtractor(
            lan="en", n=MAX_NGRAM, top=CANDIDATES_PER_CHUNK, dedupLim=0.7
        )
        self._topics: dict[tuple[str, ...], _Topic] = {}
        self._pending: list[tuple[str, str]] = []  # (message id, lowercase text)
        self._pending_words = 0
        self._last_sent: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()

    def add(self, message_id: str, text: str) -> None:
        words = _WORD.findall(text.lower())
        if not words:
            return
        self._pending.append((message_id, " ".join(words[-MAX_CHUNK_WORDS:])))
        self._pending_words += len(words)

    def ready(self) -> bool:
        return self._pending_words >= MIN_NEW_WORDS

    def extract(self) -> None:
        """Fold the pending chunk into the table; failures only cost this chunk's topics."""
        if not self._pending:
            return
        chunk, self._pending, self._pending_words = self._pending, [], 0
        words: list[str] = []
        for _, text in reversed(chunk):
            words[:0] = text.split()
            if len(words) >= MAX_CHUNK_WORDS:
                break
        text = " ".join(words[-MAX_CHUNK_WORDS:])
        try:
            candidates = self._extractor.extract_keywords(text)
        except Exception:  # yake is third-party code on arbitrary text: degrade, don't raise
            log.exception("keyphrase extraction failed; skipping this chunk")
            return
        # Stem each message once, not once per candidate: this was a third of the cost.
        stemmed = [(mid, [stem(w) for w in message.split()]) for mid, message in chunk]
        for rank, (phrase, _score) in enumerate(candidates):
            phrase = " ".join(fold(w) for w in str(phrase).split())
            if not self._is_topic(phrase):
                continue
            key = topic_key(phrase)
            topic = self._topics.setdefault(key, _Topic(phrase))
            # Rank-based weight: YAKE scores are not comparable across chunks, ranks are.
            topic.weight += 1.0 - rank / (CANDIDATES_PER_CHUNK + 1)
            for message_id, stems in stemmed:
                if _contains(stems, key) and message_id not in topic.message_ids:
                    topic.message_ids.append(message_id)

    @staticmethod
    def _is_topic(phrase: str) -> bool:
        words = phrase.split()
        if not words or any(len(w) < 2 for w in words):
            return False
        if len(words) == 1 and words[0] in _VERBS:
            return False  # "send" is what people do on calls, not what they talk about
        return not all(w in FILLER_WORDS for w in words) and words[-1] not in FILLER_WORDS

    def ranked(self) -> list[dict[str, object]]:
        """The current top topics in Symbl's topic shape, best first."""
        top = sorted(self._topics.items(), key=lambda kv: (-kv[1].weight, kv[1].phrase))
        top = [kv for kv in top if kv[1].message_ids][:MAX_TOPICS]
        if not top:
            return []
        best = top[0][1].weight
        return [
            {
                "id": str(uuid.uuid5(TOPIC_NAMESPACE, " ".join(key))),
                "type": "topic",
                "phrases": topic.phrase,
                "score": round(topic.weight / best, 3),
                "messageReferences": [
                    {"id": mid, "relation": "text instance"} for mid in topic.message_ids
                ],
                "rootWords": [{"text": topic.phrase.split()[-1]}],
            }
            for key, topic in top
        ]

    def changed(self, topics: list[dict[str, object]]) -> bool:
        """Whether ``topics`` differ from the last list reported (phrases or references)."""
        signature = tuple(
            (
                (str(t["phrases"]),),
                tuple(str(r["id"]) for r in t["messageReferences"]),  # type: ignore[attr-defined]
            )
            for t in topics
        )
        if signature == self._last_sent:
            return False
        self._last_sent = signature
        return True


def _contains(stems: list[str], key: tuple[str, ...]) -> bool:
    n = len(key)
    return any(tuple(stems[i : i + n]) == key for i in range(len(stems) - n + 1))
