"""One final phrase as sentences: cut, classified and punctuated once, used by every stage.

The engine needs each sentence three ways: its intent (insights), its readable form (the
message content, and the insight's content and ``text``) and where it sits in the phrase
(tag and tracker offsets, the clock for due dates). Computing them together means each
sentence is classified once, and the question mark in the content always agrees with the
rules that raised (or did not raise) a question.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.transcript import Phrase

from .classify import Classification, classify
from .punctuation import Punctuator
from .sentences import split_words, word_gaps

# Sentences past this many in one phrase are punctuated but not classified: a bound on the
# cost of a pathological phrase (real turns hold a handful).
MAX_CLASSIFIED_SENTENCES = 32
_NOTHING = Classification(None, 0.0, False)


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of a phrase. Offsets are into the phrase's punctuated content."""

    text: str  # raw recognizer words
    content: str  # punctuated
    first_word: int  # index into the phrase's words
    end_word: int  # exclusive
    offset: int  # character offset of ``content`` in the phrase content
    start: float  # seconds, stream time
    end: float
    classification: Classification


def _is_opener(text: str) -> bool:
    """Whether words after a short pause open an insight: evidence of a new sentence."""
    result = classify(text)
    return result.label is not None or result.is_question_form


def segment(phrase: Phrase, punctuator: Punctuator) -> tuple[str, list[Sentence]]:
    """The phrase's punctuated content and its sentences, in order.

    Word times cut sentences when the recognizer's words match its text one for one;
    otherwise (a phrase without words) only cue words cut, as for partial results.
    """
    text = phrase.text if isinstance(phrase.text, str) else ""
    tokens = text.split()
    times = [(w.start, w.end) for w in phrase.words]
    gaps = word_gaps(tokens, times)
    spans = split_words(tokens, gaps, _is_opener) if gaps is not None else split_words(tokens)
    sentences: list[Sentence] = []
    offset = 0
    for index, (first, end) in enumerate(spans):
        raw = " ".join(tokens[first:end])
        classified = classify(raw) if index < MAX_CLASSIFIED_SENTENCES else _NOTHING
        question = classified.is_question_form if index < MAX_CLASSIFIED_SENTENCES else False
        content = punctuator.sentence(raw, question=question)
        if not content:  # only punctuation tokens: nothing to read or offset
            continue
        if gaps is not None:
            start, stop = times[first][0], times[end - 1][1]
        else:
            start, stop = phrase.start, phrase.end
        sentences.append(Sentence(raw, content, first, end, offset, start, stop, classified))
        offset += len(content) + 1
    return " ".join(s.content for s in sentences), sentences
