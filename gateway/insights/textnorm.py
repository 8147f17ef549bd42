"""Token normalisation shared by trackers and topics: one notion of "the same word".

Recognizers vary plurals and tense freely ("invoice"/"invoices", "priced"/"pricing"), and
clients type vocabulary in any case; comparing light stems absorbs that without a
stemmer dependency.
"""

from __future__ import annotations

import re
import unicodedata

_STRIP = re.compile(r"^[^\w']+|[^\w']+$")
# (suffix, replacement), first that applies wins; stems shorter than 3 are left alone.
SUFFIXES: tuple[tuple[str, str], ...] = (
    ("'s", ""), ("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""),
)  # fmt: skip


def fold(token: str) -> str:
    """Lowercase, accents removed, surrounding punctuation stripped."""
    decomposed = unicodedata.normalize("NFKD", token.lower().replace("’", "'"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _STRIP.sub("", plain)


def stem(token: str) -> str:
    word = fold(token)
    for _ in range(2):  # twice, so "pricings" -> "pricing" -> "pric"
        for suffix, replacement in SUFFIXES:
            if word.endswith(suffix) and not word.endswith("ss") and len(word) - len(suffix) >= 3:
                word = word[: len(word) - len(suffix)] + replacement
                break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def deletions(word: str) -> set[str]:
    """Every string one deletion away from ``word``: the index behind edit-distance-1 lookups."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def within_one_edit(a: str, b: str) -> bool:
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    return a in deletions(b) or b in deletions(a) or bool(deletions(a) & deletions(b))
