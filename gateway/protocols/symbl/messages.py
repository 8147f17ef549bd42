"""Symbl real-time API shapes for transcript results, built in one place.

Every output that speaks Symbl (data channel, Symbl socket, consoles, relays, the store)
sends exactly these dicts, so a client written against Symbl's documented messages keeps
working. Insight, topic, tracker and analytics shapes are in ``insights`` beside this; the
connection notices (``recognition_started``, ``conversation_created``…) in ``lifecycle``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.transcript import Phrase, Speaker, Word

Message = dict[str, Any]


def iso(start: datetime, offset_seconds: float = 0.0) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as Symbl wrote its timestamps."""
    moment = (start + timedelta(seconds=offset_seconds)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _symbl_time(seconds: float) -> dict[str, str]:
    whole = int(seconds)
    return {"seconds": str(whole), "nanos": str(int(round((seconds - whole) * 1e9)))}


def recognition_result(
    *,
    transcript: str,
    punctuated: str,
    is_final: bool,
    speaker: Speaker,
    confidence: float | None = None,
    words: tuple[Word, ...] = (),
) -> Message:
    alternative: dict[str, Any] = {"transcript": transcript, "confidence": confidence or 0.0}
    if words:
        alternative["words"] = [
            {"word": w.word, "startTime": _symbl_time(w.start), "endTime": _symbl_time(w.end)}
            for w in words
        ]
    return {
        "type": "message",
        "message": {
            "type": "recognition_result",
            "isFinal": is_final,
            "punctuated": {"transcript": punctuated},
            "payload": {"raw": {"alternatives": [alternative]}},
            "user": speaker.to_json(),
        },
    }


def message_response(
    phrase: Phrase,
    *,
    content: str,
    stream_start: datetime,
    sentiment: dict[str, Any] | None = None,
) -> Message:
    message: dict[str, Any] = {
        "id": phrase.id,
        "from": phrase.speaker.to_json(),
        "payload": {"content": content, "contentType": "text/plain"},
        "channel": {"id": "realtime-api"},
        "duration": {
            "startTime": iso(stream_start, phrase.start),
            "endTime": iso(stream_start, phrase.end),
        },
        "metadata": {
            "originalContent": phrase.text,
            "words": [
                {
                    "word": w.word,
                    "startTime": round(w.start, 3),
                    "endTime": round(w.end, 3),
                    "confidence": round(w.confidence, 4),
                }
                for w in phrase.words
            ],
        },
        "dismissed": False,
    }
    if sentiment is not None:
        message["sentiment"] = sentiment
    return {"type": "message_response", "messages": [message]}
