"""Recognizer-neutral transcript types shared by recognition, insights and result builders.

These are the hand-off between the recognizer (which produces them) and everything
downstream (insights, message builders, sinks), so they carry no Vosk or WebSocket detail.
Times are seconds from the start of the participant's audio stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who is talking, as the client described itself (Symbl's ``speaker``).

    ``id`` is the gateway's participant id (the session id), so transcripts, insights and
    analytics all name a participant the same way, as Symbl's ``from.id`` did.
    """

    user_id: str | None = None
    name: str | None = None
    id: str | None = None

    def to_json(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.id is not None:
            out["id"] = self.id
        if self.user_id is not None:
            out["userId"] = self.user_id
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Phrase:
    """One final phrase: the unit the insights engine consumes.

    ``text`` is the recognizer's raw text (lowercase, no punctuation for Vosk);
    ``id`` is the message id that every insight referencing it will carry.
    """

    id: str
    text: str
    speaker: Speaker
    start: float
    end: float
    words: tuple[Word, ...] = field(default_factory=tuple)
    confidence: float = 1.0
