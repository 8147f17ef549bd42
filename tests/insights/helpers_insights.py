"""Phrase builders for the insights tests (named to avoid clashing with other suites)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.transcript import Phrase, Speaker, Word

ALEX = Speaker("alex@example.com", "Alex Kim")
SAM = Speaker("sam@example.com", "Sam Lee")
# Wednesday 18 November 2026, 17:00 UTC.
START = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)


def phrase(
    text: str,
    speaker: Speaker = ALEX,
    start: float = 0.0,
    *,
    pid: str = "m1",
    word_seconds: float = 0.3,
) -> Phrase:
    words = tuple(
        Word(w, start + i * word_seconds, start + (i + 1) * word_seconds, 0.9)
        for i, w in enumerate(text.split())
    )
    end = words[-1].end if words else start
    return Phrase(pid, text, speaker, start, end, words)
