"""Find due phrases ("by friday", "end of next week") and resolve them to local dates.

Resolution needs the conversation's clock (when the phrase was said) and the client's
timezone, because "tomorrow" said at 23:30 UTC is already the day after in Tokyo. Due
dates are day-granular, reported like Symbl's ``dueBy`` as local midnight of that day.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

WEEKDAYS: tuple[str, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip
MONTHS: tuple[str, ...] = tuple(m.lower() for m in calendar.month_name[1:])
NUMBER_WORDS: dict[str, int] = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "fifteen": 15, "twenty": 20, "thirty": 30, "a couple of": 2, "a couple": 2,
    "a few": 3, "couple of": 2, "few": 3,
}  # fmt: skip
_ORDINAL_UNITS = (
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
)  # fmt: skip
_ORDINAL_TEENS = (
    "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
    "seventeenth", "eighteenth", "nineteenth",
)  # fmt: skip


def _ordinals() -> dict[str, int]:
    table = {word: i + 1 for i, word in enumerate(_ORDINAL_UNITS)}
    table.update({word: i + 10 for i, word in enumerate(_ORDINAL_TEENS)})
    table["twentieth"] = 20
    table["thirtieth"] = 30
    for i, word in enumerate(_ORDINAL_UNITS[:9]):
        table[f"twenty {word}"] = 21 + i
    table["thirty first"] = 31
    for n in range(1, 32):
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10 if n not in (11, 12, 13) else 0, "th")
        table[f"{n}{suffix}"] = n
        table[str(n)] = n
    return table


ORDINALS: dict[str, int] = _ordinals()


def _alt(words: object) -> str:
    return "|".join(sorted((re.escape(str(w)) for w in words), key=len, reverse=True))  # type: ignore[attr-defined]


_DAY = _alt(WEEKDAYS)
_MONTH = _alt(MONTHS)
_NUM = rf"(?:{_alt(NUMBER_WORDS)}|\d+)"
_ORD = _alt(ORDINALS)
_PREP = r"(?:(?:by|before|on|for|until|till|at|no later than|due) )?"
_PART = r"(?: (?:morning|afternoon|evening|night|noon|eod))?"


def _end_of_week(d: date) -> date:
    return d + timedelta(days=(4 - d.weekday()) % 7)


def _next_weekday(d: date, weekday: int) -> date:
    ahead = (weekday - d.weekday()) % 7
    return d + timedelta(days=ahead or 7)


def _end_of_month(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def _add_months(d: date, months: int) -> date:
    month_index = d.month - 1 + months
    year, month = d.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _number(text: str) -> int:
    return int(text) if text.isdigit() else NUMBER_WORDS.get(text, 1)


def _in_n(m: re.Match[str], today: date) -> date:
    n = _number(m.group("n"))
    unit = m.group("unit")
    if unit.startswith("day"):
        return today + timedelta(days=n)
    if unit.startswith("week"):
        return today + timedelta(weeks=n)
    if unit.startswith("month"):
        return _add_months(today, n)
    return today  # minutes or hours: still today


def _weekday(m: re.Match[str], today: date) -> date:
    target = WEEKDAYS.index(m.group("day"))
    if m.group("next"):
        monday_next_week = today + timedelta(days=7 - today.weekday())
        return monday_next_week + timedelta(days=target)
    return _next_weekday(today, target)


def _month_day(m: re.Match[str], today: date) -> date:
    month = MONTHS.index(m.group("month")) + 1
    day = min(ORDINALS[m.group("ord")], calendar.monthrange(today.year, month)[1])
    candidate = date(today.year, month, day)
    if candidate < today:
        candidate = date(
            today.year + 1, month, min(day, calendar.monthrange(today.year + 1, month)[1])
        )
    return candidate


def _end_of_quarter(today: date) -> date:
    last_month = ((today.month - 1) // 3 + 1) * 3
    return _end_of_month(today.replace(day=1, month=last_month))


Resolver = Callable[[re.Match[str], date], date]

# (pattern, resolver): first match in the text wins, so more specific phrases come first.
DUE_RULES: tuple[tuple[str, Resolver], ...] = (
    (rf"{_PREP}(?:the )?end of next week", lambda m, t: _end_of_week(t) + timedelta(days=7)),
    (rf"{_PREP}(?:the )?end of (?:the |this )?week|{_PREP}eow",
     lambda m, t: _end_of_week(t)),
    (rf"{_PREP}(?:the )?end of next month", lambda m, t: _end_of_month(_add_months(t, 1))),
    (rf"{_PREP}(?:the )?end of (?:the |this )?month", lambda m, t: _end_of_month(t)),
    (rf"{_PREP}(?:the )?end of (?:the |this )?quarter", lambda m, t: _end_of_quarter(t)),
    (rf"{_PREP}(?:the )?end of (?:the |to)?day|{_PREP}(?:close of business|cob|eod)",
     lambda m, t: t),
    (rf"{_PREP}(?:the )?day after tomorrow", lambda m, t: t + timedelta(days=2)),
    (rf"{_PREP}tomorrow{_PART}", lambda m, t: t + timedelta(days=1)),
    (rf"{_PREP}(?:later )?(?:today|tonight)|{_PREP}this (?:morning|afternoon|evening)",
     lambda m, t: t),
    (rf"{_PREP}(?:(?P<next>next|coming) |this )?(?P<day>{_DAY}){_PART}", _weekday),
    (rf"{_PREP}(?P<month>{_MONTH}) (?:the )?(?P<ord>{_ORD})\b", _month_day),
    (rf"{_PREP}(?:early |later |late )?next week", lambda m, t: t + timedelta(
        days=7 - t.weekday())),
    (rf"{_PREP}(?:early |later |late )?this week", lambda m, t: _end_of_week(t)),
    (rf"{_PREP}next month", lambda m, t: _add_months(t.replace(day=1), 1)),
    (rf"(?:with)?in (?:the next )?(?P<n>{_NUM}) (?P<unit>days?|weeks?|months?|minutes?|"
     r"hours?)", _in_n),
)  # fmt: skip

_COMPILED = tuple((re.compile(rf"\b(?:{pattern})\b"), resolve) for pattern, resolve in DUE_RULES)


@dataclass(frozen=True, slots=True)
class DuePhrase:
    text: str  # as said, e.g. "by friday"
    offset: int  # character offset in the text searched
    day: date  # resolved local date


def local_now(conversation_start: datetime, seconds: float, utc_offset_minutes: int) -> datetime:
    """The client's local wall-clock time ``seconds`` into the conversation.

    ``utc_offset_minutes`` is east positive (Tokyo 540), the negation of Symbl's
    ``timezoneOffset``; ``InsightsConfig.utc_offset_minutes`` converts.
    """
    tz = timezone(timedelta(minutes=utc_offset_minutes))
    return (conversation_start + timedelta(seconds=max(0.0, seconds))).astimezone(tz)


def find_due(text: str, now_local: datetime) -> DuePhrase | None:
    """The first due phrase in lowercase ``text``, resolved against ``now_local``."""
    today = now_local.date()
    best: tuple[int, re.Match[str], Resolver] | None = None
    for regex, resolve in _COMPILED:
        m = regex.search(text)
        if m is not None and (best is None or m.start() < best[0]):
            best = (m.start(), m, resolve)
    if best is None:
        return None
    _, m, resolve = best
    try:
        day = resolve(m, today)
    except (ValueError, KeyError, OverflowError):
        return None
    return DuePhrase(text=m.group(0), offset=m.start(), day=day)


def due_by_value(day: date, utc_offset_minutes: int) -> str:
    """Symbl's ``dueBy.value``: local midnight of the due day with the client's offset
    (east positive, as in ISO 8601: -420 gives ``-07:00``)."""
    tz = timezone(timedelta(minutes=utc_offset_minutes))
    return datetime(day.year, day.month, day.day, tzinfo=tz).isoformat()
