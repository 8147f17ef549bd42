"""Talk time, pace, silence, overlap and monologues, in Symbl's analytics shape.

Computed from the times of final phrases (word times where the recognizer gave them, so
pauses inside a phrase count as silence). Recomputed from the segment lists on each call:
a few thousand intervals sort in well under a millisecond, and a from-scratch sweep
cannot drift the way incremental counters can when phrases arrive out of order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.transcript import Phrase, Speaker

# Words closer than this belong to one stretch of talk; longer gaps are silence.
MAX_INTRA_SEGMENT_GAP = 0.5
# A speaker's monologue survives pauses up to this long if nobody else speaks.
MAX_MONOLOGUE_GAP = 3.0

Interval = tuple[float, float]


@dataclass
class _Member:
    id: str
    speaker: Speaker
    segments: list[Interval] = field(default_factory=list)
    words: int = 0


def phrase_segments(phrase: Phrase) -> list[Interval]:
    """Stretches of actual speech in ``phrase``: word times merged across short gaps."""
    if not phrase.words:
        return [(phrase.start, max(phrase.start, phrase.end))]
    segments: list[Interval] = []
    for word in sorted(phrase.words, key=lambda w: w.start):
        start, end = word.start, max(word.start, word.end)
        if segments and start - segments[-1][1] <= MAX_INTRA_SEGMENT_GAP:
            segments[-1] = (segments[-1][0], max(segments[-1][1], end))
        else:
            segments.append((start, end))
    return segments


def _union(intervals: Sequence[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(intervals: Sequence[Interval]) -> float:
    return sum(end - start for start, end in intervals)


def _intersection(a: Sequence[Interval], b: Sequence[Interval]) -> float:
    """Total overlap of two sorted, disjoint interval lists (merge walk)."""
    i = j = 0
    total = 0.0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            total += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def _overlap_total(unions: Sequence[Sequence[Interval]]) -> float:
    """Seconds during which two or more speakers talk at once (sweep over all edges)."""
    events = sorted(
        [(start, 1) for u in unions for start, _ in u] + [(end, -1) for u in unions for _, end in u]
    )
    active, last, total = 0, 0.0, 0.0
    for time, delta in events:
        if active >= 2:
            total += time - last
        active += delta
        last = time
    return total


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 3) if whole > 0 else 0.0


class ConversationAnalytics:
    """Per-conversation accumulator; ``report()`` builds the analytics message body."""

    def __init__(self) -> None:
        self._members: dict[Speaker, _Member] = {}
        # (start, end, member id) per phrase, for monologues.
        self._turns: list[tuple[float, float, str]] = []

    def add(self, phrase: Phrase, member_id: str) -> None:
        member = self._members.get(phrase.speaker)
        if member is None:
            member = self._members[phrase.speaker] = _Member(member_id, phrase.speaker)
        segments = phrase_segments(phrase)
        member.segments.extend(segments)
        member.words += len(phrase.words) if phrase.words else len(phrase.text.split())
        self._turns.append((segments[0][0], segments[-1][1], member.id))

    def __bool__(self) -> bool:
        return bool(self._turns)

    def _longest_monologues(self) -> dict[str, tuple[float, float]]:
        best: dict[str, tuple[float, float]] = {}
        run: tuple[str, float, float] | None = None
        for start, end, member_id in sorted(self._turns):
            if run and run[0] == member_id and start - run[2] <= MAX_MONOLOGUE_GAP:
                run = (member_id, run[1], max(run[2], end))
            else:
                run = (member_id, start, end)
            current = best.get(member_id)
            if current is None or run[2] - run[1] > current[1] - current[0]:
                best[member_id] = (run[1], run[2])
        return best

    def report(self) -> dict[str, Any]:
        unions = {m.id: _union(m.segments) for m in self._members.values()}
        everyone = _union([s for u in unions.values() for s in u])
        begin = everyone[0][0] if everyone else 0.0
        finish = everyone[-1][1] if everyone else 0.0
        duration = max(0.0, finish - begin)
        talk = _length(everyone)
        overlap = _overlap_total(list(unions.values()))
        monologues = self._longest_monologues()
        members = []
        for member in self._members.values():
            own = unions[member.id]
            seconds = _length(own)
            others = [
                (other, _intersection(own, unions[other.id]))
                for other in self._members.values()
                if other.id != member.id
            ]
            overlapping = [(o, s) for o, s in others if s > 0]
            mono = monologues.get(member.id, (0.0, 0.0))
            members.append(
                {
                    "id": member.id,
                    **member.speaker.to_json(),
                    "pace": {"wpm": round(member.words * 60.0 / seconds) if seconds > 0 else 0},
                    "talkTime": {"percentage": _pct(seconds, talk), "seconds": round(seconds, 3)},
                    "listenTime": {
                        "percentage": _pct(talk - seconds, talk),
                        "seconds": round(talk - seconds, 3),
                    },
                    "overlap": {
                        "overlapDuration": round(
                            _intersection(
                                own, _union([s for o, _ in overlapping for s in unions[o.id]])
                            ),
                            3,
                        ),
                        "overlappingMembers": [
                            {
                                "id": o.id,
                                **o.speaker.to_json(),
                                "percent": _pct(s, seconds),
                                "seconds": round(s, 3),
                            }
                            for o, s in overlapping
                        ],
                    },
                    "longestMonologue": {
                        "seconds": round(mono[1] - mono[0], 3),
                        "startTime": round(mono[0], 3),
                        "endTime": round(mono[1], 3),
                    },
                }
            )
        return {
            "metrics": [
                {"type": "total_silence", "percent": _pct(duration - talk, duration),
                 "seconds": round(duration - talk, 3)},
                {"type": "total_talk_time", "percent": _pct(talk, duration),
                 "seconds": round(talk, 3)},
                {"type": "total_overlap", "percent": _pct(overlap, talk),
                 "seconds": round(overlap, 3)},
            ],
            "members": members,
        }  # fmt: skip
