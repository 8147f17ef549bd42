"""Query parameters of ``GET /v1/conversations``, parsed and checked as Symbl documented them.

Symbl's parameters: ``limit`` (0-65536, default 20), ``offset`` (default 0), ``order``
(``asc``/``desc`` on the sort field, default ``asc``), ``sort`` (default
``conversation.startTime``), ``startTime``/``endTime`` (ISO 8601; ``endTime`` defaults to
now and ``startTime`` to seven days before ``endTime``) and ``filter`` (RSQL). Added here:
``participant`` (a participant id or userId). ``filter`` is refused, not ignored: a client
that relies on it must not silently get unfiltered results.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

DEFAULT_LIMIT = 20
MAX_LIMIT = 65_536
MAX_OFFSET = 2**31 - 1
DEFAULT_WINDOW_MS = 7 * 24 * 3600 * 1000
SORTS = {"conversation.startTime": "start_ms", "conversation.endTime": "end_ms",
         "conversation.name": "name"}


class InvalidParameter(ValueError):
    """A query parameter the API cannot use; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str, code: str = "invalid_parameter") -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.code = code


@dataclass(frozen=True, slots=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    order: Literal["asc", "desc"] = "asc"
    sort: str = "start_ms"
    start_ms: int = 0
    end_ms: int = 0
    participant: str | None = None


def _integer(params: Mapping[str, str], name: str, default: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not text.isdigit():
        raise InvalidParameter(name, f"expected a whole number from 0 to {high}, got {raw[:40]!r}")
    value = int(text[:12])
    if value > high or len(text) > 12:
        raise InvalidParameter(name, f"at most {high}, got {raw[:40]!r}")
    return value


def _time(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidParameter(
            name, f"expected an ISO 8601 time such as 2026-11-21T07:47:43.381Z, got {raw[:40]!r}"
        ) from None
    if moment.tzinfo is None:
        raise InvalidParameter(name, "the time needs a UTC offset or Z")
    return round(moment.timestamp() * 1000)


def parse_list_query(params: Mapping[str, str], now_ms: int | None = None) -> ListQuery:
    """Validate the list parameters; raises :class:`InvalidParameter` naming the bad one."""
    if "filter" in params:
        raise InvalidParameter("filter", "RSQL filters are not supported; use startTime, "
                               "endTime and participant", code="unsupported_parameter")
    order = params.get("order", "asc").strip().lower()
    if order not in ("asc", "desc"):
        raise InvalidParameter("order", f"expected asc or desc, got {order[:40]!r}")
    sort_name = params.get("sort", "conversation.startTime").strip()
    if sort_name not in SORTS:
        raise InvalidParameter("sort",
                               f"expected one of {', '.join(SORTS)}, got {sort_name[:60]!r}")
    end_ms = _time(params, "endTime")
    end_ms = end_ms if end_ms is not None else (now_ms if now_ms is not None
                                                else int(time.time() * 1000))
    start_ms = _time(params, "startTime")
    start_ms = start_ms if start_ms is not None else end_ms - DEFAULT_WINDOW_MS
    if start_ms >= end_ms:
        raise InvalidParameter("startTime", "must be earlier than endTime")
    participant = params.get("participant")
    if participant is not None and not 0 < len(participant) <= 128:
        raise InvalidParameter("participant", "expected a participant id or userId, 1-128 chars")
    return ListQuery(
        limit=_integer(params, "limit", DEFAULT_LIMIT, MAX_LIMIT),
        offset=_integer(params, "offset", 0, MAX_OFFSET),
        order="desc" if order == "desc" else "asc", sort=SORTS[sort_name],
        start_ms=start_ms, end_ms=end_ms, participant=participant)


def parse_flag(params: Mapping[str, str], name: str) -> bool:
    """Symbl's boolean query flags (``sentiment=true``, ``verbose=true``)."""
    raw = params.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in ("true", "1", ""):
        return True
    if value in ("false", "0"):
        return False
    raise InvalidParameter(name, f"expected true or false, got {raw[:40]!r}")
