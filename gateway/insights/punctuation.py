"""Readable text from recognizer output: sentence case, "I", proper nouns, end marks.

Vosk emits lowercase words with no punctuation. A punctuation model would be better but
would have to be downloaded; these cheap rules cover what readers notice most and run on
partial results too. The question mark comes from the same rules that find questions.
Sentence boundaries inside a phrase come from ``sentences.py``: finals are cut by word
timing in ``segment.py``; partial text has no timing, so only strong cue words cut it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .classify import is_question
from .dates import MONTHS, WEEKDAYS
from .sentences import split_words

# Words always written with capitals, keyed by their recognizer spelling.
PROPER_WORDS: dict[str, str] = {
    **{d: d.capitalize() for d in WEEKDAYS},
    **{m: m.capitalize() for m in MONTHS if m not in ("may", "march")},
    "i": "I", "i'm": "I'm", "i'll": "I'll", "i've": "I've", "i'd": "I'd",
    "api": "API", "apis": "APIs", "sso": "SSO", "csv": "CSV", "nda": "NDA", "ssl": "SSL",
    "cto": "CTO", "ceo": "CEO", "cfo": "CFO", "crm": "CRM", "url": "URL", "pdf": "PDF",
    "ui": "UI", "qa": "QA", "hr": "HR", "roi": "ROI", "kpi": "KPI", "kpis": "KPIs",
    "sla": "SLA", "aws": "AWS", "json": "JSON", "sql": "SQL", "eod": "EOD", "ok": "OK",
    "iphone": "iPhone", "ios": "iOS", "android": "Android", "windows": "Windows",
    "english": "English", "european": "European", "american": "American",
}  # fmt: skip

# Interjections that read better followed by a comma when the utterance goes on.
INTERJECTIONS: tuple[str, ...] = (
    "okay", "yeah", "yes", "sure", "alright", "oh", "um", "uh", "hmm",
)  # fmt: skip
# Question tags that read better after a comma: "That's the latest version, right?"
COMMA_TAGS: tuple[str, ...] = ("right", "isn't it", "didn't we", "don't you think", "correct")

_SPACES = re.compile(r"\s+")
_INTERJECTION = re.compile(rf"^((?:{'|'.join(INTERJECTIONS)}))\s+(?=\S)", re.IGNORECASE)
_TAG = re.compile(rf"(?<=\w)\s+({'|'.join(COMMA_TAGS)})$", re.IGNORECASE)
# Longer phrases than this are not worth tag or question analysis (and are not questions).
_MAX_QUESTION_CHARS = 600


class Punctuator:
    """Punctuation rules plus the names learned in this conversation (speaker names)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._proper = dict(PROPER_WORDS)
        for name in names:
            self.add_name(name)

    def add_name(self, name: str) -> None:
        for part in name.split():
            if part.isalpha() and len(part) > 1:
                self._proper.setdefault(part.lower(), part[0].upper() + part[1:])

    def _case(self, word: str) -> str:
        return self._proper.get(word.lower(), word)

    def punctuate(self, raw_text: str, *, final: bool = True) -> str:
        """Readable text; sentences found by cue words get their own case and end mark.

        ``final=False`` (partials) leaves the last sentence open: no end mark yet.
        """
        tokens = _SPACES.sub(" ", raw_text).strip().rstrip(".?!,;: ").split()
        spans = split_words(tokens) if len(tokens) > 1 else [(0, len(tokens))]
        parts = [
            self.sentence(" ".join(tokens[a:b]), final=final or k < len(spans) - 1, question=None)
            for k, (a, b) in enumerate(spans)
        ]
        return " ".join(p for p in parts if p)

    def sentence(self, raw_text: str, *, final: bool = True, question: bool | None) -> str:
        """One sentence: ``question`` from the caller's classification, or worked out here."""
        text = _SPACES.sub(" ", raw_text).strip()
        if not text:
            return ""
        text = text.rstrip(".?!,;: ")
        if not text:
            return ""
        words = [self._case(w) for w in text.split(" ")]
        words[0] = words[0][:1].upper() + words[0][1:]
        text = " ".join(words)
        if question is None:
            question = len(text) <= _MAX_QUESTION_CHARS and is_question(text)
        if len(text.split(" ", 2)) > 2:
            text = _INTERJECTION.sub(lambda m: f"{m.group(1)}, ", text, count=1)
            if question:
                text = _TAG.sub(lambda m: f", {m.group(1)}", text, count=1)
        if not final:
            return text
        return text + ("?" if question else ".")
