"""A participant as its conversation sees it: where its media stream's transcripts go in.

A member turns recognition events into results: its live transcript (partials, its own
final ``recognition_result``s, start and stop) addressed to itself, and each finished
phrase as a ``message_response`` with its insights for the whole conversation. It
implements the media stream's ``TranscriptListener``, so the pipeline knows nothing of
conversations and a member knows nothing of transports.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from gateway.outputs.result import Message
from gateway.protocols.symbl import lifecycle, messages
from gateway.transcript import Phrase, Speaker

from .presence import LeaveReason, MemberListener, Participant

if TYPE_CHECKING:
    from .conversation import Conversation

log = logging.getLogger(__name__)


class Member:
    def __init__(self, conversation: Conversation, speaker: Speaker, *,
                 accepts_peer: bool = False) -> None:
        assert speaker.id is not None
        self.id: str = speaker.id
        self.speaker = speaker
        self.conversation = conversation
        self.stream_start: datetime | None = None
        self._offset = 0.0  # this stream's start on the conversation clock, seconds
        self._leaving: asyncio.Future[None] | None = None
        self.failures = 0
        self.muted = False
        self.accepts_peer = accepts_peer
        self.listener: MemberListener | None = None

    @property
    def participant(self) -> Participant:
        return Participant(self.speaker, self.muted, self.accepts_peer)

    def listen(self, listener: MemberListener) -> list[Participant]:
        """Subscribe this participant's client to the others' presence and messages;
        returns who is already here (in the same step, so no change falls between)."""
        self.listener = listener
        return self.conversation.roster.participants(exclude=self)

    def depart(self, reason: LeaveReason) -> None:
        """Tell the others now that this participant is gone (see ``Conversation.depart``)."""
        self.conversation.depart(self, reason)

    # -- TranscriptListener ---------------------------------------------------------------

    def started(self, at: datetime) -> None:
        """The participant's audio started (first chunk).

        Its client hears ``conversation_created`` then ``recognition_started``, both with
        ``data.conversationId``, as Symbl sent them: Symbl's clients take the conversation
        id from there, whatever the transport.
        """
        self.stream_start = at
        self._offset = self.conversation.begin(at)
        self._own(lifecycle.conversation_created(self.conversation.id))
        self._own(lifecycle.recognition_started(self.conversation.id))

    def partial(self, text: str) -> None:
        self._own(messages.recognition_result(
            transcript=text, punctuated=self.conversation.punctuate(text), is_final=False,
            speaker=self.speaker))

    async def final(self, phrase: Phrase) -> None:
        conversation = self.conversation
        assert self.stream_start is not None, "a final before any audio"
        content, sentiment, extra = phrase.text, None, list[Message]()
        try:
            analysis = await conversation.analyse(phrase, self._offset)
        except Exception:
            # Insights are extras: the transcript goes out unpunctuated rather than not at all.
            self._failed("insights")
            analysis = None
        if analysis is not None:
            content, sentiment, extra = analysis.content, analysis.sentiment, analysis.messages
        self._own(messages.recognition_result(
            transcript=phrase.text, punctuated=content, is_final=True, speaker=phrase.speaker,
            confidence=phrase.confidence, words=phrase.words))
        conversation.publish(messages.message_response(
            phrase, content=content, stream_start=self.stream_start, sentiment=sentiment))
        for message in extra:
            conversation.publish(message)

    # -- leaving ------------------------------------------------------------------------------

    def leave(self, reason: LeaveReason = "left") -> asyncio.Future[None]:
        """Leave once, however many paths (bye, vanish, shutdown) ask for it; the first
        one's ``reason`` is the one the others hear (unless ``depart`` told them already).

        Its ``recognition_stopped`` is the last message addressed to it, if its audio ever
        started. Shield the future to let a cancelled caller still finish leaving.
        """
        if self._leaving is None:
            goodbye = lifecycle.recognition_stopped() if self.stream_start is not None else None
            self._leaving = asyncio.ensure_future(
                self.conversation.remove(self, goodbye, reason))
        return self._leaving

    def _own(self, body: Message) -> None:
        self.conversation.publish(body, origin=self.id, audience="participant")

    def _failed(self, stage: str) -> None:
        self.failures += 1
        if self.failures % 100 == 1:
            log.exception("participant %s: %s failed (%d so far); continuing",
                          self.id, stage, self.failures)
