"""One conversation's participants, time-aligned into one stream (mixed, or a channel each).

Protocols that carry a whole call on one connection (jambonz ``mixed`` and ``stereo``,
Twilio with both tracks) need the participants' audio on one clock. Each participant's
chunks carry offsets on that participant's own clock (samples since its stream started),
so the mixer shifts them by the difference of the streams' start times and adds them up.

Output is released once every participant that is keeping up has delivered past a point:
the horizon is the earliest end among participants, but never more than ``max_lag``
behind the latest one, so a participant that stalls or stops sending (muted, VAD-gated,
gone) cannot hold the others back; its audio that arrives for time already released is
dropped and counted. Stretches where nobody sent anything are not invented: holes shorter
than ``max_hole`` are filled with silence, longer ones become a jump in the output offsets
(the protocol decides how to carry a jump). Memory is bounded by ``max_lag`` of audio per
participant plus one chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.pipeline.pcm import TARGET_RATE, PcmChunk

from .base import MixedChunk


@dataclass
class _Participant:
    shift: int          # conversation-clock offset of this participant's offset 0
    channel: int
    end: int | None = None  # conversation-clock end of the audio received so far
    active: bool = True


@dataclass
class _Piece:
    channel: int
    position: int
    samples: np.ndarray  # int16


class ConversationMixer:
    """Participants' PCM chunks in, conversation-clock :class:`MixedChunk` out."""

    def __init__(self, channels: int = 1, *, max_lag: float = 0.5, max_hole: float = 1.0) -> None:
        if channels not in (1, 2):
            raise ValueError("a conversation mix has 1 or 2 channels")
        self.channels = channels
        self.max_lag = round(max_lag * TARGET_RATE)
        self.max_hole = round(max_hole * TARGET_RATE)
        self._origin: float | None = None  # started_at of conversation-clock offset 0
        self._participants: dict[str, _Participant] = {}
        self._pieces: list[_Piece] = []
        self._released: int | None = None   # conversation-clock position released so far
        self._audio_end: int | None = None  # end of the last chunk given out
        self.late_samples = 0               # dropped: arrived for time already released

    def add(self, participant_id: str, started_at: float) -> None:
        """Register a participant whose offset 0 happened at ``started_at`` (epoch seconds).

        With two channels the first participant is the left channel (the "caller", as in
        a jambonz stereo fork or Twilio's inbound track) and every later one the right.
        """
        if participant_id in self._participants:
            return
        if self._origin is None:
            self._origin = started_at
        shift = round((started_at - self._origin) * TARGET_RATE)
        channel = 0 if self.channels == 1 or not self._participants else 1
        self._participants[participant_id] = _Participant(shift, channel)

    def remove(self, participant_id: str) -> list[MixedChunk]:
        """The participant left: it no longer holds the horizon back."""
        participant = self._participants.get(participant_id)
        if participant is None or not participant.active:
            return []
        participant.active = False
        return self._release()

    def push(self, participant_id: str, chunk: PcmChunk) -> list[MixedChunk]:
        """Add one participant chunk; return whatever is now complete."""
        participant = self._participants.get(participant_id)
        if participant is None:
            raise KeyError(f"participant {participant_id!r} was not added to the mix")
        samples = np.frombuffer(chunk.data[: len(chunk.data) - len(chunk.data) % 2], "<i2")
        position = participant.shift + chunk.offset
        end = position + len(samples)
        if self._released is None:
            self._released = position
        if position < self._released:
            cut = min(self._released - position, len(samples))
            self.late_samples += cut
            samples, position = samples[cut:], position + cut
        if len(samples):
            self._pieces.append(_Piece(participant.channel, position, samples))
        participant.end = end if participant.end is None else max(participant.end, end)
        return self._release()

    def flush(self) -> list[MixedChunk]:
        """Release everything received (end of the conversation)."""
        ends = [p.end for p in self._participants.values() if p.end is not None]
        return self._release_to(max(ends)) if ends else []

    def _release(self) -> list[MixedChunk]:
        ends = [p.end for p in self._participants.values() if p.end is not None]
        if not ends or self._released is None:
            return []
        # A participant that has sent nothing yet holds the mix back too (up to max_lag).
        live = [self._released if p.end is None else p.end
                for p in self._participants.values() if p.active]
        latest = max(ends)
        horizon = max(min(live) if live else latest, latest - self.max_lag)
        return self._release_to(horizon)

    def _release_to(self, horizon: int) -> list[MixedChunk]:
        start = self._released
        if start is None or horizon <= start:
            return []
        spans = _merge([(max(p.position, start), min(p.position + len(p.samples), horizon))
                        for p in self._pieces if p.position < horizon], self.max_hole)
        if spans and self._audio_end is not None and \
                spans[0][0] - self._audio_end <= self.max_hole:
            spans[0] = (self._audio_end, spans[0][1])  # a short hole after earlier output
        out = [self._mix(a, b) for a, b in spans if b > a]
        if spans:
            self._audio_end = spans[-1][1]
        kept: list[_Piece] = []
        for piece in self._pieces:
            tail = piece.position + len(piece.samples) - horizon
            if tail > 0:
                cut = len(piece.samples) - tail if piece.position < horizon else 0
                kept.append(_Piece(piece.channel, piece.position + cut, piece.samples[cut:]))
        self._pieces = kept
        self._released = horizon
        return out

    def _mix(self, a: int, b: int) -> MixedChunk:
        acc = np.zeros((b - a, self.channels), dtype=np.int32)
        for piece in self._pieces:
            lo, hi = max(piece.position, a), min(piece.position + len(piece.samples), b)
            if hi > lo:
                acc[lo - a: hi - a, piece.channel] += piece.samples[lo - piece.position:
                                                                    hi - piece.position]
        mixed = np.clip(acc, -32768, 32767).astype("<i2")
        return MixedChunk(mixed.tobytes(), a, self.channels)


def _merge(spans: list[tuple[int, int]], max_hole: int) -> list[tuple[int, int]]:
    """Union of spans, joining spans separated by holes up to ``max_hole``."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if merged and a - merged[-1][1] <= max_hole:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
