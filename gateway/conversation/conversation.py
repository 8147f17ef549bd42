"""A conversation: participants whose speech shares one insights engine and one result stream.

A one-on-one call is two participants, each with its own transport session; Symbl delivered
every speaker's finalised messages and insights to every stream of a conversation, and
talk-time analytics (overlap, listen time) only mean something across speakers. So finals
and insights are conversation-wide, while a participant's own live transcript (partials, its
own ``recognition_result``s, start/stop) is addressed to that participant alone.

Each participant's word times are relative to its own audio stream; the conversation clock
starts with the first participant's first audio, and each phrase is shifted onto it before
the insights engine sees it, so overlap between speakers is measured on one time line.

Results flow one way: members hand transcripts in, the conversation builds each message once
(``Result``) and publishes it on the bus; outputs subscribe there, never to the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from gateway.outputs.base import ConversationInfo
from gateway.outputs.bus import ResultBus
from gateway.outputs.result import Audience, Kind, Message, Result
from gateway.protocols.symbl.messages import iso
from gateway.transcript import Phrase, Speaker

from .insights import ConversationInsights, InsightsBuilder, PhraseAnalysis
from .member import Member
from .presence import LeaveReason
from .roster import Roster

log = logging.getLogger(__name__)

T = TypeVar("T")

Runner = Callable[..., Awaitable[Any]]
"""Runs blocking work in the worker pool (``WorkerPool.run``)."""


class ConversationFull(Exception):
    """The conversation cannot take another participant: at its ``limit``, or ended."""

    def __init__(self, message: str, *, conversation_id: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.conversation_id = conversation_id
        self.limit = limit


class Conversation:
    def __init__(
        self,
        info: ConversationInfo,
        *,
        bus: ResultBus,
        run: Runner,
        build_insights: InsightsBuilder | None,
        analytics_interval: float = 10.0,
        max_participants: int = 2,
        on_ended: Callable[[Conversation], None] = lambda c: None,
        tenant: str | None = None,
    ) -> None:
        self.info = info
        # Who the conversation belongs to (the tenant of the token that created it): access
        # checks compare it, and ``conversation_started`` carries it to the store and consoles.
        self.tenant = tenant
        self._bus = bus
        self._run = run
        self._build_insights = build_insights
        self._analytics_interval = analytics_interval
        self.max_participants = max_participants
        self._on_ended = on_ended
        self.roster = Roster()
        self.created_at = datetime.now(UTC)
        self.start: datetime | None = None  # the clock: first audio of any participant
        self._insights: ConversationInsights | None = None
        # The engine is not thread-safe; its calls run in the pool one at a time.
        self._lock = asyncio.Lock()
        self._analytics_task: asyncio.Task[None] | None = None
        self._introduced: set[Speaker] = set()
        self._seq = 0
        self.ended = False

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def has_insights(self) -> bool:
        return self._build_insights is not None

    # -- membership -------------------------------------------------------------------------

    @property
    def members(self) -> dict[str, Member]:
        """Present and departing members, in joining order (see ``Roster``)."""
        return self.roster.members

    def join(self, speaker: Speaker, *, accepts_peer: bool = False) -> Member:
        """A participant joins (``speaker.id`` is its participant id; ``accepts_peer``: its
        client takes messages from the others, see ``Participant``)."""
        if self.ended:
            raise ConversationFull(f"conversation {self.id} has ended",
                                   conversation_id=self.id)
        if len(self.roster) >= self.max_participants:
            raise ConversationFull(
                f"conversation {self.id} already has {self.max_participants} participants",
                conversation_id=self.id, limit=self.max_participants)
        assert speaker.id is not None, "a participant needs an id"
        if self._seq == 0:
            extra = {} if self.tenant is None else {"tenantId": self.tenant}
            if self.info.connection_id is not None:
                extra["connectionId"] = self.info.connection_id
            self._lifecycle("conversation_started", meetingTitle=self.info.meeting_title,
                            startTime=iso(self.created_at), **extra)
        member = Member(self, speaker, accepts_peer=accepts_peer)
        self._lifecycle("participant_joined", participant=speaker.to_json(),
                        at=iso(datetime.now(UTC)))
        self.roster.add(member)
        return member

    def depart(self, member: Member, reason: LeaveReason) -> None:
        """The participant is gone (hung up or dropped): the others hear it now, before its
        last audio is recognised; it may send nothing more to them."""
        self.roster.depart(member, reason)

    def set_muted(self, member: Member, muted: bool) -> None:
        """A participant muted or unmuted: the others, and consoles, hear of a change."""
        if self.roster.set_muted(member, muted):
            self._lifecycle("participant_state", participant=member.speaker.to_json(),
                            muted=muted, at=iso(datetime.now(UTC)))

    def relay(self, sender: Member, to: str, data: Mapping[str, Any]) -> None:
        """Hand ``data`` from one participant to another (browser-to-browser negotiation).

        Raises ``UnknownParticipant`` unless ``to`` is another present participant. Nothing
        of it goes on the bus: negotiation is between the two, not a result of the call.
        """
        self.roster.relay(sender, to, data)

    async def remove(self, member: Member, goodbye: Message | None,
                     reason: LeaveReason = "left") -> None:
        """Remove a participant after ``goodbye`` (its ``recognition_stopped``).

        The last one out first receives the conversation's closing insights (final topics
        and analytics); then the conversation ends and its outputs are finished. Consoles
        hear ``participant_left`` (with ``reason``) after the participant's last lines.
        """
        if self.members.get(member.id) is not member:
            return
        self.roster.depart(member, reason)
        if len(self.members) == 1:
            self.ended = True
            await self._stop_analytics()
            if self._insights is not None:
                try:
                    for message in await self._exclusive(self._insights.finish):
                        self.publish(message)
                except Exception:
                    log.exception("conversation %s: closing insights failed", self.id)
        if goodbye is not None:
            self.publish(goodbye, origin=member.id, audience="participant")
        self.roster.discard(member)
        self._lifecycle("participant_left", participant=member.speaker.to_json(),
                        reason=reason, at=iso(datetime.now(UTC)))
        if self.ended:
            self._lifecycle("conversation_ended", endTime=iso(datetime.now(UTC)))
            self._on_ended(self)
            await self._bus.finish(self.id)

    # -- results ----------------------------------------------------------------------------

    def publish(self, body: Mapping[str, Any], *, origin: str | None = None,
                audience: Audience = "conversation", kind: Kind = "symbl") -> None:
        """Build the result once and hand it to every output on the bus."""
        self._seq += 1
        try:
            result = Result.of(self.id, body, self._seq, origin=origin, audience=audience,
                               kind=kind)
        except (TypeError, ValueError):
            log.exception("conversation %s: a %s message could not be serialised; dropped",
                          self.id, body.get("type"))
            return
        self._bus.publish(result)

    def _lifecycle(self, kind: str, **fields: Any) -> None:
        self.publish({"type": kind, "conversationId": self.id, **fields}, kind="lifecycle")

    # -- clock and insights -------------------------------------------------------------------

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
        for member in list(self.members.values()):
            if member.speaker not in self._introduced:
                self._introduced.add(member.speaker)
                self._insights.add_participant(member.speaker)
        return self._insights.feed(phrase)

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
                self.publish(report)

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
