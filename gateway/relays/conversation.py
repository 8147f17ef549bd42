"""One conversation's relays: its participants' downstream streams, and the streams that
carry the whole conversation (mixed or stereo audio, both Twilio tracks, results).

It is a conversation-level output on the bus (built by ``Relays.conversation_output``
through the directory's outputs), which gives it what it needs to follow the call without
any transport's help: ``participant_left`` closes that participant's streams (with each
protocol's goodbye); results go to results relays; ``drain``/``close`` at the end of the
conversation flush the mixers and end the shared streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.outputs.base import AudioSink, ConversationInfo
from gateway.outputs.bus import DRAIN_TIMEOUT
from gateway.outputs.result import Result
from gateway.pipeline.pcm import TARGET_RATE, PcmChunk
from gateway.protocols.downstream import ConversationMixer, StreamInfo

from .link import DownstreamLink
from .report import STATUS_TYPE
from .targets import Target

if TYPE_CHECKING:
    from gateway.conversation.conversation import Conversation
    from gateway.conversation.member import Member

log = logging.getLogger(__name__)

# A participant's audio may lag the others' by this much before it is dropped from the mix:
# a busy gateway's media pipelines stall for hundreds of milliseconds, and a second of
# latency costs an analytics service nothing, while dropped audio is gone.
MIX_LAG = 1.0
NOT_RELAYED = frozenset({"downstream_message", STATUS_TYPE})  # answers are not results
LinkMaker = Callable[[Target, StreamInfo, Callable[[Mapping[str, Any]], None],
                      Mapping[str, Any] | None], DownstreamLink]


@dataclass(eq=False)
class SharedStream:
    """A conversation-level stream: one link, fed by a mixer (or by results)."""

    target: Target
    link: DownstreamLink
    mixer: ConversationMixer | None
    members: set[str] = field(default_factory=set)


class MixTap:
    """A participant's audio into a shared stream's mixer (an ``AudioSink``)."""

    name = "downstream-mix"

    def __init__(self, shared: SharedStream, member: Member) -> None:
        assert shared.mixer is not None
        self.shared = shared
        self.mixer = shared.mixer
        self.member = member
        self._added = False

    def send_audio(self, chunk: PcmChunk) -> None:
        try:
            if not self._added:
                self._added = True
                start = self.member.stream_start
                at = start.timestamp() if start is not None else time.time()
                self.mixer.add(self.member.id, at - chunk.offset / TARGET_RATE)
            for mixed in self.mixer.push(self.member.id, chunk):
                self.shared.link.send_audio(mixed)
        except Exception:  # never the media path's problem
            log.exception("downstream %s: mixing failed", self.shared.link.label)

    async def drain(self, timeout: float) -> None:
        """The shared stream is drained when the conversation ends."""

    async def close(self) -> None:
        """The participant left: it no longer holds the mix back."""
        if self._added:
            for mixed in self.mixer.remove(self.member.id):
                self.shared.link.send_audio(mixed)


class RelayConversation:
    """Implements ``Sink`` for one conversation (see the module docstring)."""

    name = "relays"

    def __init__(self, info: ConversationInfo, make_link: LinkMaker, *,
                 on_closed: Callable[[RelayConversation], None] = lambda rc: None) -> None:
        self.info = info
        self._make_link = make_link
        self._on_closed = on_closed
        self.conversation: Conversation | None = None  # learned from its first participant
        self.taps: dict[str, list[AudioSink]] = {}     # by participant id
        self.shared: dict[tuple[str, ...], SharedStream] = {}
        self._closing: dict[str, asyncio.Task[None]] = {}
        self.closed = False

    # -- participants ----------------------------------------------------------------------

    def open(self, member: Member, targets: Sequence[Target],
             start: Mapping[str, Any] | None) -> list[AudioSink]:
        """The taps of one participant's media stream, one per target it streams to."""
        self.conversation = member.conversation
        taps: list[AudioSink] = []
        for target in targets:
            try:
                tap = self._tap(member, target, start)
            except ValueError as exc:  # a protocol option or URL that cannot be used
                log.warning("participant %s: downstream %s not opened: %s", member.id,
                            target.label, exc)
                self._refused(member, target, str(exc))
                continue
            if tap is not None:
                taps.append(tap)
        self.taps.setdefault(member.id, []).extend(taps)
        return taps

    def _tap(self, member: Member, target: Target,
             start: Mapping[str, Any] | None) -> AudioSink | None:
        if target.mixes:
            shared = self.shared.get(target.key) or self._share(target)
            shared.members.add(member.id)
            return None if shared.mixer is None else MixTap(shared, member)
        info = target.stream_info(self.info.id, participant_id=member.id,
                                  speaker=member.speaker, meeting_title=self.info.meeting_title,
                                  started_at=time.time())

        def publish(body: Mapping[str, Any]) -> None:
            member.conversation.publish(body, origin=member.id, audience="participant")

        return self._make_link(target, info, publish, start)

    def _share(self, target: Target) -> SharedStream:
        info = target.stream_info(self.info.id, meeting_title=self.info.meeting_title,
                                  started_at=time.time())
        link = self._make_link(target, info, self._publish, None)
        mixer = None if target.carries_results else \
            ConversationMixer(channels=link.protocol.channels, max_lag=MIX_LAG)
        shared = SharedStream(target, link, mixer)
        self.shared[target.key] = shared
        return shared

    def _publish(self, body: Mapping[str, Any]) -> None:
        if self.conversation is not None:
            self.conversation.publish(body)

    def _refused(self, member: Member, target: Target, why: str) -> None:
        body = {"type": STATUS_TYPE, "protocol": target.protocol, "downstream": target.label,
                "conversationId": self.info.id, "participantId": member.id,
                "status": "refused", "reason": why}
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_soon(
                lambda: member.conversation.publish(body, origin=member.id,
                                                    audience="participant"))

    def knows(self, participant_id: str) -> bool:
        return participant_id in self.taps or participant_id in self._closing

    def close_participant(self, participant_id: str) -> asyncio.Future[None]:
        """End a participant's streams (drain, goodbye) once, however often asked."""
        task = self._closing.get(participant_id)
        if task is None:
            taps = self.taps.pop(participant_id, [])
            task = asyncio.ensure_future(self._finish(taps))
            self._closing[participant_id] = task
        return task

    @staticmethod
    async def _finish(taps: list[AudioSink]) -> None:
        await asyncio.gather(*(_finish_tap(tap) for tap in taps))

    # -- Sink ------------------------------------------------------------------------------

    def send(self, result: Result) -> None:
        try:
            if result.kind == "lifecycle" and result.body.get("type") == "participant_left":
                participant = result.body.get("participant") or {}
                if participant.get("id") in self.taps:
                    self.close_participant(str(participant["id"]))
            if result.type in NOT_RELAYED:
                return
            for shared in self.shared.values():
                if shared.mixer is None:
                    shared.link.send_result(result)
        except Exception:
            log.exception("conversation %s: relays could not take a result", self.info.id)

    async def drain(self, timeout: float) -> None:
        """The conversation ended: participants' streams end, mixes are flushed, shared
        streams write what they hold (all within ``timeout``)."""
        deadline = asyncio.get_running_loop().time() + timeout
        for participant_id in list(self.taps):
            self.close_participant(participant_id)
        if self._closing:
            await asyncio.wait(list(self._closing.values()), timeout=timeout)
        for shared in self.shared.values():
            if shared.mixer is not None:
                for mixed in shared.mixer.flush():
                    shared.link.send_audio(mixed)
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        await asyncio.gather(*(s.link.drain(remaining) for s in self.shared.values()))

    async def close(self) -> None:
        """Say goodbye on every shared stream; wait for the participants' goodbyes."""
        if self.closed:
            return
        self.closed = True
        for participant_id in list(self.taps):
            self.close_participant(participant_id)
        await asyncio.gather(*(s.link.close() for s in self.shared.values()),
                             *self._closing.values(), return_exceptions=True)
        self._on_closed(self)


async def _finish_tap(tap: AudioSink, timeout: float = DRAIN_TIMEOUT) -> None:
    """Drain (bounded), then always close, even if the drain was cancelled (as the bus
    finishes its outputs)."""
    try:
        await tap.drain(timeout)
    except Exception:
        log.exception("draining downstream %s failed", getattr(tap, "label", tap))
    finally:
        try:
            await asyncio.shield(tap.close())
        except Exception:
            log.exception("closing downstream %s failed", getattr(tap, "label", tap))
