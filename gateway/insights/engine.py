"""The insights engine: feed final phrases of one conversation, get Symbl-shaped results.

It sits behind the recognizer on a worker thread, so it must never raise or stall the
media path: every stage is guarded separately (a failing stage costs only its own
results for that phrase) and every stage's cost is bounded by capping the text it sees.

A phrase is read as sentences (``segment.py``): one recognizer final often holds several,
and each sentence may raise its own insight, whose content and ``text`` is that sentence.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.protocols.symbl import insights as shapes
from gateway.transcript import Phrase, Speaker

from .analytics import ConversationAnalytics
from .classify import Classification
from .config import InsightsConfig
from .dates import due_by_value, find_due, local_now
from .punctuation import Punctuator
from .segment import Sentence, segment
from .sentiment import sentiment
from .topics import TopicTracker
from .trackers import TrackerMatcher

log = logging.getLogger(__name__)

# Due phrases are searched for near the commitment, not across a whole monologue.
MAX_DUE_SEARCH_CHARS = 400
# A due date makes an action item more certain to be one.
DUE_CONFIDENCE_BONUS = 0.05
MAX_CONFIDENCE = 0.99
NEUTRAL_SENTIMENT: dict[str, Any] = {"polarity": {"score": 0.0}, "suggested": "neutral"}


@dataclass
class Analysis:
    """What one final phrase yields: its readable text, its sentiment, messages to send.

    ``sentences`` are the phrase's sentences (each with its punctuated ``content``, word
    range and times), for outputs that show or store a turn sentence by sentence.
    """

    content: str
    sentiment: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)


class InsightsEngine:
    """Per-conversation state. Calls are sequential; nothing is shared between engines."""

    def __init__(self, config: InsightsConfig, conversation_start: datetime) -> None:
        if conversation_start.tzinfo is None:
            raise ValueError("conversation_start must be timezone-aware")
        self._config = config
        self._start = conversation_start
        self._punctuator = Punctuator()
        self._trackers = TrackerMatcher(config.trackers)
        self._topics = TopicTracker()
        self._analytics = ConversationAnalytics()
        self._analytics_dirty = False
        self._member_ids: dict[Speaker, str] = {}
        self._tracker_sequence = 0

    # -- public interface -------------------------------------------------------------

    def punctuate(self, raw_text: str, *, final: bool = True) -> str:
        try:
            return self._punctuator.punctuate(raw_text, final=final)
        except Exception:
            log.exception("punctuation failed; passing text through")
            return raw_text

    def feed(self, phrase: Phrase) -> Analysis:
        try:
            return self._feed(phrase)
        except Exception:  # last line of defence: the media path must keep going
            log.exception("insights failed for message %s", getattr(phrase, "id", "?"))
            return Analysis(content=str(getattr(phrase, "text", "")), sentiment=NEUTRAL_SENTIMENT)

    def add_participant(self, speaker: Speaker) -> None:
        """Someone joined before (or without) speaking.

        In a one-on-one call "can you send it" is assigned to the other participant; that
        only works if the engine knows the other participant is there before they talk.
        Their name is also capitalised in punctuated text from then on.
        """
        self._member_id(speaker)
        if speaker.name:
            self._guard("names", self._punctuator.add_name, speaker.name)

    def analytics(self) -> dict[str, Any] | None:
        if not self._analytics_dirty:
            return None
        self._analytics_dirty = False
        return self._analytics_message()

    def finish(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        topics = self._guard("topics", self._topic_message, force=True)
        if topics:
            messages.append(topics)
        if self._analytics:
            self._analytics_dirty = False
            final = self._analytics_message()
            if final:
                messages.append(final)
        return messages

    # -- stages -------------------------------------------------------------------------

    def _feed(self, phrase: Phrase) -> Analysis:
        text = phrase.text if isinstance(phrase.text, str) else ""
        if phrase.speaker.name:
            self._guard("names", self._punctuator.add_name, phrase.speaker.name)
        member_id = self._member_id(phrase.speaker)
        read = self._guard("punctuation", segment, phrase, self._punctuator)
        content, sentences = read if read is not None else (text, [])
        analysis = Analysis(
            content=content,
            sentiment=self._guard("sentiment", sentiment, text) or NEUTRAL_SENTIMENT,
            sentences=sentences,
        )
        if not text.strip():
            return analysis
        insights: dict[int, dict[str, Any]] = {}
        for index, sentence in enumerate(sentences):
            insight = self._guard("insights", self._insight, phrase, sentence)
            if insight:
                insights[index] = insight
        if insights:
            analysis.messages.append(shapes.insight_response(list(insights.values())))
        trackers = self._guard("trackers", self._tracker_message, phrase, sentences, insights)
        if trackers:
            analysis.messages.append(trackers)
        self._guard("topics", self._topics.add, phrase.id, text)
        topics = self._guard("topics", self._topic_message, force=False)
        if topics:
            analysis.messages.append(topics)
        self._guard("analytics", self._analytics.add, phrase, member_id)
        self._analytics_dirty = True
        return analysis

    def _guard(self, stage: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:
            log.exception("insights stage %r failed; continuing without it", stage)
            return None

    def _member_id(self, speaker: Speaker) -> str:
        member_id = self._member_ids.get(speaker)
        if member_id is None:
            member_id = self._member_ids[speaker] = speaker.id or str(uuid.uuid4())
        return member_id

    def _insight(self, phrase: Phrase, sentence: Sentence) -> dict[str, Any] | None:
        result = sentence.classification
        if result.label is None or result.label not in self._config.insight_types:
            return None
        content = sentence.content
        confidence = result.confidence
        tags: list[dict[str, Any]] = []
        due_value: str | None = None
        lowered = content.lower()
        if result.label != "question":
            utc_offset = self._config.utc_offset_minutes
            now = local_now(self._start, sentence.end, utc_offset)
            due = find_due(lowered[:MAX_DUE_SEARCH_CHARS], now)
            if due is not None:
                due_value = due_by_value(due.day, utc_offset)
                tags.append(
                    shapes.date_tag(
                        content[due.offset : due.offset + len(due.text)],
                        due.offset,
                        due.day.isoformat(),
                    )
                )
                confidence = min(MAX_CONFIDENCE, confidence + DUE_CONFIDENCE_BONUS)
        if confidence < self._config.confidence_threshold:
            return None
        assignee = self._assignee(phrase, result)
        if assignee and result.assignee_names:
            name = result.assignee_names[0]
            offset = lowered.find(name)
            if offset >= 0:
                tags.append(
                    shapes.person_tag(content[offset : offset + len(name)], offset, assignee)
                )
        return shapes.insight(
            insight_id=str(uuid.uuid4()),
            insight_type=result.label,
            content=content,
            confidence=confidence,
            sender=phrase.speaker.to_json(),
            message_id=phrase.id,
            assignee=assignee,
            due_by=due_value,
            tags=tags,
        )

    def _assignee(self, phrase: Phrase, result: Classification) -> dict[str, str] | None:
        """Who the action falls to, as far as the words and the known speakers tell."""
        if result.assignee_role == "speaker":
            return phrase.speaker.to_json() or None
        if result.assignee_role == "listener":
            # Only a one-on-one call says who "you" is.
            others = [s for s in self._member_ids if s != phrase.speaker]
            if len(others) == 1:
                return others[0].to_json() or None
            return None
        if result.assignee_role == "named" and result.assignee_names:
            name = result.assignee_names[0]
            for speaker in self._member_ids:
                if speaker.name and speaker.name.split()[0].lower() == name:
                    return speaker.to_json()
            return {"name": name.capitalize()}
        return None

    def _tracker_message(
        self,
        phrase: Phrase,
        sentences: list[Sentence],
        insights: dict[int, dict[str, Any]],
    ) -> dict[str, Any] | None:
        if not self._trackers:
            return None
        words = phrase.text.split()
        matches = self._trackers.match(words)
        if not matches:
            return None
        content = " ".join(s.content for s in sentences)
        # Content keeps the raw words one-for-one, so a word index maps to a sentence and
        # to a character offset inside it.
        where: dict[int, tuple[int, int]] = {}  # word index -> (sentence index, offset)
        for index, sentence in enumerate(sentences):
            position = 0
            for k, word in enumerate(sentence.content.split(" ")):
                where[sentence.first_word + k] = (index, position)
                position += len(word) + 1
        by_tracker: dict[str, list[dict[str, Any]]] = {}
        for match in matches:
            index, inner = where.get(match.word_index, (-1, -1))
            offset = sentences[index].offset + inner if index >= 0 else -1
            refs = [{"id": phrase.id, "text": content, "offset": offset}]
            insight = insights.get(index)
            insight_refs = (
                [{"id": insight["id"], "text": insight["text"], "offset": inner}] if insight else []
            )
            by_tracker.setdefault(match.tracker, []).append(
                shapes.tracker_match(match.value, refs, insight_refs)
            )
        self._tracker_sequence += 1
        return shapes.tracker_response(self._tracker_sequence, by_tracker)

    def _topic_message(self, *, force: bool) -> dict[str, Any] | None:
        if not (force or self._topics.ready()):
            return None
        self._topics.extract()
        topics = self._topics.ranked()
        if not topics or not self._topics.changed(topics):
            return None
        return shapes.topic_response(topics)

    def _analytics_message(self) -> dict[str, Any] | None:
        report = self._guard("analytics", self._analytics.report)
        return shapes.analytics_response(report) if report else None
