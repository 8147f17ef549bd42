"""What every transport does to give a participant its media: one place, three transports.

A WebRTC session, a Symbl WebSocket connection and a WHIP publisher each join a
conversation as a ``Member`` in their own way (their own checks and error shapes); from
there on the media is the same: a recogniser stream for the member, the downstream relays'
taps for its audio, and the ``MediaStream`` that feeds both. At the end the member's
downstream streams are closed before it leaves, so their last answers still reach it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.asr.base import Recognizer
from gateway.config import SessionSettings
from gateway.conversation.member import Member
from gateway.conversation.start_config import StartConfig
from gateway.pipeline.stream import DEFAULT_MAX_DELAY, MediaStream
from gateway.relays.manager import Relays


@dataclass(frozen=True, slots=True)
class ParticipantMedia:
    """The shared parts a transport needs to open and close a member's media."""

    recognizer: Recognizer
    settings: SessionSettings
    relays: Relays | None = None

    async def open(self, member: Member, start: StartConfig, *, label: str, transport: str,
                   max_delay: float | None = DEFAULT_MAX_DELAY) -> MediaStream:
        """The member's media stream; ``RecognizerUnavailable`` (remote recognition with
        every server down) is the caller's to report in its protocol.

        ``max_delay``: real-time media (WebRTC) keeps its results near the speech by
        dropping audio that waited longer; a sender paced by TCP back-pressure (the Symbl
        WebSocket) passes None, since its audio may arrive faster than real time and none
        of it may be lost."""
        recognizer = await self.recognizer.open_stream(member.speaker)
        taps = self.relays.open_participant_taps(member, start) if self.relays else ()
        return MediaStream(recognizer, member, label=label, transport=transport,
                           backlog_chunks=self.settings.backlog_chunks, taps=taps,
                           max_delay=max_delay)

    async def close_outputs(self, member: Member) -> None:
        """The member's audio is all recognised: end its downstream streams now (their last
        answers reach it and its consoles), before it leaves the conversation."""
        if self.relays is not None:
            await self.relays.close_participant_taps(member)
