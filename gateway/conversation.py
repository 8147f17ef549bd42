"""A conversation: participants whose speech shares one insights engine and one result stream.

A one-on-one call is two browsers, each its own session; Symbl delivered every speaker's
finalised messages and insights to every stream of a conversation, and talk-time analytics
(overlap, listen time) only mean something across speakers. So finals and insights are
conversation-wide, while a participant's own live transcript (partials, its own
``recognition_result``s, start/stop) stays with that participant, as Symbl's
``onSpeechDetected`` did.

Each participant's word times are relative to its own audio stream; the conversation clock
starts with the first participant's first audio, and each phrase is shifted onto it before
the insights engine sees it, so overlap between speakers is measured on one time line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from .sinks import ConversationInfo, Message, Sink
from .transcript import Phrase, Speaker

log = logging.getLogger(__name__)

T = TypeVar("T")


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

Runner = Callable[..., Awaitable[Any]]
"""Runs blocking work in the recognition worker pool (``RecognitionEngine.run``)."""


class Participant(Protocol):
    id: str

    @property
    def speaker(self) -> Speaker: ...

    def deliver(self, message: Message) -> None:
        """Send to this participant's own outputs (its data channel)."""


class ConversationFull(Exception):
    pass


class Conversation:
    def __init__(
        self,
        info: ConversationInfo,
        *,
        run: Runner,
        build_insights: InsightsBuilder | None,
        sinks: Sequence[Sink] = (),
        analytics_interval: float = 10.0,
        max_participants: int = 8,
        on_empty: Callable[[Conversation], None] = lambda c: None,
    ) -> None:
        self.info = info
        self._run = run
        self._build_insights = build_insights
        self._sinks = list(sinks)
        self._analytics_interval = analytics_interval
        self._max_participants = max_participants
        self._on_empty = on_empty
        self.participants: dict[str, Participant] = {}
        self.start: datetime | None = None
        self._insights: ConversationInsights | None = None
        # The engine is not thread-safe; its calls run in the pool one at a time.
        self._lock = asyncio.Lock()
        self._analytics_task: asyncio.Task[None] | None = None
        self._introduced: set[Speaker] = set()
        self.ended = False

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def has_insights(self) -> bool:
        return self._build_insights is not None

    def join(self, participant: Participant) -> None:
        if self.ended:
            raise ConversationFull(f"conversation {self.id} has ended")
        if len(self.participants) >= self._max_participants:
            raise ConversationFull(
                f"conversation {self.id} already has {self._max_participants} participants"
            )
        self.participants[participant.id] = participant

    def begin(self, stream_start: datetime) -> float:
        """A participant's audio started: return its offset on the conversation clock."""
        if self.start is None:
            self.start = stream_start
            if self._build_insights is not None:
                try:
                    self._insights = self._build_insights(stream_start)
                except Exception:
                    log.exception("conversation %s: insights unavailable; transcripts only",
                                  self.id)
                    return 0.0
                self._analytics_task = asyncio.ensure_future(self._analytics_loop())
        return (stream_start - self.start).total_seconds()

    def punctuate(self, raw_text: str) -> str:
        """Readable form of a partial (cheap enough for the event loop: string rules only)."""
        return self._insights.punctuate(raw_text, final=False) if self._insights else raw_text

    async def analyse(self, phrase: Phrase, offset: float) -> PhraseAnalysis | None:
        """Feed one final phrase (times relative to its stream, shifted by ``offset``)."""
        if self._insights is None:
            return None
        result: PhraseAnalysis = await self._exclusive(self._feed, shift(phrase, offset))
        return result

    def _feed(self, phrase: Phrase) -> PhraseAnalysis:
        """Worker-thread side: introduce new participants, then feed (one engine call)."""
        assert self._insights is not None
        for participant in list(self.participants.values()):
            if participant.speaker not in self._introduced:
                self._introduced.add(participant.speaker)
                self._insights.add_participant(participant.speaker)
        return self._insights.feed(phrase)

    def add_sink(self, sink: Sink) -> None:
        """A sink that arrives mid-conversation (a console subscribing)."""
        self._sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)

    @property
    def sink_count(self) -> int:
        return len(self._sinks)

    def publish(self, message: Message, origin: Participant) -> None:
        """A message for its origin only (live transcript), mirrored to conversation sinks."""
        self._deliver(origin, message)
        self._mirror(message)

    def broadcast(self, message: Message) -> None:
        """A message for everyone in the conversation."""
        for participant in list(self.participants.values()):
            self._deliver(participant, message)
        self._mirror(message)

    def _deliver(self, participant: Participant, message: Message) -> None:
        # Each recipient on its own: one broken output must not starve the others, nor
        # raise into the speaker's recognizer task.
        try:
            participant.deliver(message)
        except Exception:
            log.exception("conversation %s: delivery to %s failed", self.id, participant.id)

    def _mirror(self, message: Message) -> None:
        for sink in list(self._sinks):
            try:
                sink.send(message)
            except Exception:
                log.exception("conversation %s: sink %s failed", self.id,
                              getattr(sink, "name", sink))

    async def leave(self, participant: Participant, goodbye: Message | None = None) -> None:
        """Remove a participant, after ``goodbye`` (its ``recognition_stopped``).

        The last one out first receives the conversation's closing insights (final topics
        and analytics), then the conversation's own sinks are drained and closed.
        """
        if participant.id not in self.participants:
            return
        if len(self.participants) > 1:
            if goodbye is not None:
                self.publish(goodbye, participant)
            del self.participants[participant.id]
            return
        self.ended = True
        await self._stop_analytics()
        if self._insights is not None:
            try:
                final: list[Message] = await self._exclusive(self._insights.finish)
                for message in final:
                    self.broadcast(message)
            except Exception:
                log.exception("conversation %s: closing insights failed", self.id)
        if goodbye is not None:
            self.publish(goodbye, participant)
        del self.participants[participant.id]
        self._on_empty(self)
        # Concurrently: one slow relay or console must not hold up the others' goodbyes.
        await asyncio.gather(*(_finish_sink(sink) for sink in list(self._sinks)))

    async def _analytics_loop(self) -> None:
        while True:
            await asyncio.sleep(self._analytics_interval)
            if self._insights is None:
                return
            try:
                report: Message | None = await self._exclusive(self._insights.analytics)
            except Exception:
                log.exception("conversation %s: analytics failed", self.id)
                continue
            if report is not None:
                self.broadcast(report)

    async def _exclusive(self, fn: Callable[..., T], *args: object) -> T:
        """Run an engine call in the pool, one at a time, even if the caller is cancelled.

        Cancelling an await on ``run_in_executor`` does not stop the worker thread; without
        the shield the lock would be released while the engine is still running, and the
        next call would enter the (not thread-safe) engine concurrently.
        """

        async def locked() -> T:
            async with self._lock:
                result: T = await self._run(fn, *args)
                return result

        return await asyncio.shield(asyncio.ensure_future(locked()))

    async def _stop_analytics(self) -> None:
        task = self._analytics_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _finish_sink(sink: Sink) -> None:
    """Drain (bounded), then always close, even if the drain was cancelled."""
    try:
        await sink.drain(timeout=2.0)
    except Exception:
        log.exception("draining sink %s failed", getattr(sink, "name", sink))
    finally:
        try:
            await asyncio.shield(sink.close())
        except Exception:
            log.exception("closing sink %s failed", getattr(sink, "name", sink))


def shift(phrase: Phrase, offset: float) -> Phrase:
    """The phrase with its times moved onto the conversation clock."""
    if not offset:
        return phrase
    words = tuple(
        dataclasses.replace(w, start=w.start + offset, end=w.end + offset) for w in phrase.words
    )
    return dataclasses.replace(
        phrase, start=phrase.start + offset, end=phrase.end + offset, words=words
    )
