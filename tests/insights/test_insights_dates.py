from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from gateway.insights.dates import due_by_value, find_due, local_now

# Wednesday 18 November 2026, 15:00 local.
WEDNESDAY = datetime(2026, 11, 18, 15, 0, tzinfo=timezone(timedelta(hours=-8)))


@pytest.mark.parametrize(
    ("text", "said", "expected"),
    [
        ("i'll send it by friday", "by friday", date(2026, 11, 20)),
        ("send it tomorrow", "tomorrow", date(2026, 11, 19)),
        ("done by end of next week", "by end of next week", date(2026, 11, 27)),
        ("by the end of the week", "by the end of the week", date(2026, 11, 20)),
        ("before the end of the month", "before the end of the month", date(2026, 11, 30)),
        ("by the end of the day", "by the end of the day", date(2026, 11, 18)),
        ("later today", "later today", date(2026, 11, 18)),
        ("on monday", "on monday", date(2026, 11, 23)),
        ("on wednesday", "on wednesday", date(2026, 11, 25)),
        ("next tuesday", "next tuesday", date(2026, 11, 24)),
        ("next friday", "next friday", date(2026, 11, 27)),
        ("in two weeks", "in two weeks", date(2026, 12, 2)),
        ("in a couple of days", "in a couple of days", date(2026, 11, 20)),
        ("before march first", "before march first", date(2027, 3, 1)),
        ("by december twenty first", "by december twenty first", date(2026, 12, 21)),
        ("next month", "next month", date(2026, 12, 1)),
        ("the day after tomorrow", "the day after tomorrow", date(2026, 11, 20)),
    ],
)
def test_due_phrases_resolve_against_the_local_clock(text: str, said: str, expected: date) -> None:
    due = find_due(text, WEDNESDAY)
    assert due is not None
    assert due.text == said
    assert due.day == expected
    assert text[due.offset : due.offset + len(due.text)] == said


def test_no_due_phrase() -> None:
    assert find_due("i'll send the deck", WEDNESDAY) is None
    assert find_due("", WEDNESDAY) is None


def test_timezone_decides_which_day_tomorrow_is() -> None:
    start = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)  # Wednesday 23:30 UTC
    tokyo = local_now(start, 0.0, 9 * 60)  # already Thursday 08:30 in Tokyo
    pacific = local_now(start, 0.0, -8 * 60)  # still Wednesday 15:30 in California
    assert find_due("tomorrow", tokyo).day == date(2026, 11, 20)  # type: ignore[union-attr]
    assert find_due("tomorrow", pacific).day == date(2026, 11, 19)  # type: ignore[union-attr]


def test_conversation_clock_advances_with_stream_time() -> None:
    start = datetime(2026, 11, 18, 23, 50, tzinfo=UTC)
    later = local_now(start, 20 * 60, 0)  # 20 minutes in: past midnight
    assert later.date() == date(2026, 11, 19)


def test_due_by_value_is_local_midnight_with_offset() -> None:
    assert due_by_value(date(2021, 2, 5), -420) == "2021-02-05T00:00:00-07:00"
    assert due_by_value(date(2021, 2, 5), 60) == "2021-02-05T00:00:00+01:00"
