"""Decide whether an utterance is a question, an action item, a follow-up, or nothing.

Rules beat a model here: recognizer text has no punctuation or casing to learn from, the
intents are carried by a few dozen openers, and the rules run in microseconds. The rules
themselves are data in ``patterns.py``; this module only compiles and applies them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from . import patterns as p

# Intent lives at the start of an utterance; looking further only adds cost and noise.
MAX_CLASSIFY_WORDS = 60
_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Classification:
    label: str | None  # "question" | "action_item" | "follow_up" | None
    confidence: float
    # Syntactic question form, independent of label: a request like "can you send it"
    # is an action item but still gets a question mark.
    is_question_form: bool
    assignee_role: str | None = None  # "speaker" | "listener" | "named" | None
    assignee_names: tuple[str, ...] = ()


def _alt(words: tuple[str, ...]) -> str:
    # Longest first so "double check" wins over "check".
    return "|".join(sorted(words, key=len, reverse=True))


def _inflect(verb: str) -> list[str]:
    """Base, -s, -ing and -ed forms of the first word of a verb phrase."""
    head, _, tail = verb.partition(" ")
    tail = f" {tail}" if tail else ""
    stem = head[:-1] if head.endswith("e") and not head.endswith("ee") else head
    forms = {head, f"{head}s", f"{stem}ing", f"{stem}ed", f"{head}es"}
    return [f"{form}{tail}" for form in forms]


def normalize(text: str) -> list[str]:
    """Lowercase word tokens, apostrophes unified, capped at ``MAX_CLASSIFY_WORDS``."""
    tokens: list[str] = []
    for match in _WORD_RE.finditer(text.lower()):
        tokens.append(match.group(0).replace("’", "'"))
        if len(tokens) >= MAX_CLASSIFY_WORDS:
            break
    return tokens


@dataclass(frozen=True)
class _CompiledOpener:
    regex: re.Pattern[str]
    opener: p.Opener


class _Rules:
    """The compiled form of ``patterns``; built once per process, immutable after."""

    def __init__(self) -> None:
        fillers = _alt(p.LEADING_FILLERS)
        self.filler = re.compile(rf"^(?:(?:{fillers})\b ?)+")
        name = rf"(?!(?:{_alt(p.NOT_NAMES)})\b)[^\W\d_]+"
        aux = _alt(p.AUXILIARIES)
        self.vocative = re.compile(rf"^{name} (?=(?:{aux}) (?:you|y'all)\b)")
        self.aux_question = re.compile(rf"^(?:{aux}) (?:{_alt(p.SUBJECT_STARTS)})\b")
        self.wh_question = re.compile(
            rf"^(?:{_alt(p.WH_WORDS)})\b(?! (?:{_alt(p.CLAUSE_SUBJECTS)})\b)"
        )
        self.opener_question = re.compile(rf"^(?:{'|'.join(p.QUESTION_OPENERS)})\b")
        self.tag_question = re.compile(rf"\b(?:{'|'.join(p.QUESTION_TAGS)})$")
        self.not_question = re.compile(rf"^(?:{'|'.join(p.NOT_QUESTIONS)})")
        self.not_action = re.compile(rf"(?:{'|'.join(p.NOT_ACTIONS)})\b")
        self.info_verb = re.compile(rf"^(?:{_alt(p.INFORMATION_VERBS)})\b")
        task_forms = [form for verb in p.TASK_VERBS for form in _inflect(verb)]
        self.task = re.compile(rf"\b(?:{_alt(tuple(task_forms))})\b")
        self.follow_up = re.compile(rf"\b(?:{'|'.join(p.FOLLOW_UP_PHRASES)})\b")
        self.openers = tuple(
            _CompiledOpener(
                re.compile(
                    "^"
                    + o.pattern.replace("{NAME2}", f"(?P<name2>{name})").replace(
                        "{NAME}", f"(?P<name>{name})"
                    )
                    + r"\b ?"
                ),
                o,
            )
            for o in p.OPENERS
        )


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    return _Rules()


# Task verbs further than this many words past the opener belong to another clause.
_MAX_GAP_WORDS = 3
# Short question-shaped utterances are reliably questions; long ones drift into statements.
_MAX_WH_WORDS = 16


def _is_question_form(text: str, rules: _Rules) -> tuple[bool, float]:
    if rules.not_question.search(text):
        return False, 0.0
    if rules.opener_question.search(text):
        return True, 0.85
    if rules.aux_question.search(text):
        return True, 0.92
    if rules.wh_question.search(text) and text.count(" ") < _MAX_WH_WORDS:
        return True, 0.9
    if text.count(" ") >= 2 and rules.tag_question.search(text):
        return True, 0.75
    return False, 0.0


def _match_action(
    text: str, rules: _Rules
) -> tuple[str, float, str | None, tuple[str, ...]] | None:
    """Return (label, confidence, role, names) if ``text`` opens with a commitment."""
    if rules.not_action.search(text):
        return None
    for compiled in rules.openers:
        m = compiled.regex.match(text)
        if m is None:
            continue
        rest = text[m.end() :]
        head = " ".join(rest.split(" ")[: _MAX_GAP_WORDS + 3])
        opener = compiled.opener
        names = tuple(n for n in (m.groupdict().get("name"), m.groupdict().get("name2")) if n)
        role: str | None = opener.role if opener.role != "group" else None
        if rules.follow_up.search(rest):
            return "follow_up", opener.confidence, role, names
        if opener.follow_up_only:
            return None
        if opener.role in ("listener", "named") and rules.info_verb.match(rest):
            return None
        if opener.any_verb and rest:
            return "action_item", opener.confidence, role, names
        task = rules.task.search(head)
        if task is not None and head[: task.start()].count(" ") <= _MAX_GAP_WORDS:
            return "action_item", opener.confidence, role, names
        return None
    return None


def strip_fillers(tokens: list[str]) -> str:
    rules = _rules()
    text = rules.filler.sub("", " ".join(tokens)).strip()
    return rules.vocative.sub("", text)


def classify(raw_text: str) -> Classification:
    """Classify one utterance of recognizer text (any casing or punctuation)."""
    rules = _rules()
    text = strip_fillers(normalize(raw_text))
    if not text:
        return Classification(None, 0.0, False)
    is_question, q_conf = _is_question_form(text, rules)
    action = _match_action(text, rules)
    if action is not None:
        label, conf, role, names = action
        return Classification(label, conf, is_question, role, names)
    if is_question:
        return Classification("question", q_conf, True)
    return Classification(None, 0.0, False)


def is_question(raw_text: str) -> bool:
    """Whether ``raw_text`` is shaped like a question (for the question mark)."""
    return classify(raw_text).is_question_form
