"""A conversation as a console's list shows it, kept current from the conversation's results.

Each conversation gets one ``SummarySink`` (built by ``summary_sink_factory``, attached by
the directory like any conversation-level output), so it sees every result and lifecycle
event in publish order. It keeps two things, both bounded:

- the **summary**: who is in the call and since when (here), and what has been said
  (``SpokenContent``: latest line, sentiment trend, questions and action items so far, top
  topics). ``GET /api/conversations`` and the console's live feed send it. Its ``version``
  moves only when what a list shows changes (a partial never does), so a flood of partials
  costs the feed nothing.
- the **replay**: the last finals, insights and trackers and the latest topics and analytics,
  as their original Symbl bodies, so a console opening a call midway can show what was said
  (``?snapshot=1`` on ``/subscribe``). It is dropped when the call ends; the recent list keeps
  only the summary.

``send`` runs on the publisher's stack: a few dict operations per result.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gateway.auth.principal import DEFAULT_TENANT
from gateway.protocols.symbl.messages import iso

from .base import ConversationInfo, Sink, SinkFactory
from .result import Result
from .summary_content import SpokenContent, cut, person

if TYPE_CHECKING:
    from .board import ConversationBoard

log = logging.getLogger(__name__)

MAX_PARTICIPANTS = 32  # people who left are forgotten first past this
MAX_STATE_KEYS = 8
REPLAY = {"message_response": 200, "insight_response": 100, "tracker_response": 50,
          "topic_response": 1, "analytics_response": 1}  # each kind's latest N

_serials = itertools.count(1)


def _now() -> str:
    return iso(datetime.now(UTC))


class ConversationSummary:
    """The list's view of one conversation, and its replay for late watchers."""

    def __init__(self, conversation_id: str, meeting_title: str | None = None) -> None:
        self.id = conversation_id
        self.serial = next(_serials)  # tells two calls under one id apart
        self.meeting_title = meeting_title
        # Unknown (None) until ``conversation_started`` says it: listings show a summary
        # only to principals of its tenant (services see all), so until then only services.
        self.tenant: str | None = None
        self.start_time = _now()
        self.end_time: str | None = None
        self.updated = self.start_time
        self.participants: dict[str, dict[str, Any]] = {}
        self.content = SpokenContent()
        self.version = 0
        self._json: tuple[int, dict[str, Any]] | None = None
        self._replay: dict[str, deque[tuple[int, Mapping[str, Any]]]] = {
            kind: deque(maxlen=size) for kind, size in REPLAY.items()}

    @property
    def ended(self) -> bool:
        return self.end_time is not None

    def apply(self, result: Result) -> bool:
        """Take one result in; True when what a list shows changed."""
        kind, body = result.type, result.body
        if result.kind == "lifecycle":
            changed = self._lifecycle(kind, body)
        else:
            kept = self._replay.get(kind)
            if kept is not None and not self.ended:
                kept.append((result.seq, body))
            changed = self.content.apply(kind, body)
        if changed:
            self.version += 1
            self.updated = _now()
        return changed

    # -- who is in the call -------------------------------------------------------------------

    def _lifecycle(self, kind: str, body: Mapping[str, Any]) -> bool:
        if kind == "conversation_started":
            title = body.get("meetingTitle")
            self.meeting_title = cut(title, 200) if title else self.meeting_title
            self.start_time = str(body.get("startTime") or self.start_time)
            tenant = body.get("tenantId")
            self.tenant = cut(tenant, 128) if isinstance(tenant, str) and tenant \
                else DEFAULT_TENANT
            return True
        if kind == "conversation_ended":
            self.end(str(body.get("endTime") or _now()))
            return True
        who = person(body.get("participant"))
        pid = who.get("id")
        if not pid:
            return False
        at = str(body.get("at") or _now())
        if kind == "participant_joined":
            self.participants[pid] = {**who, "joinedAt": at, "leftAt": None,
                                      "leftReason": None, "present": True, "state": {}}
            self._forget_departed()
            return True
        entry = self.participants.get(pid)
        if entry is None:
            return False
        if kind == "participant_left":  # reason: "left" (hung up) or "dropped" (connection lost)
            reason = body.get("reason")
            entry.update(present=False, leftAt=at, state={},
                         leftReason=cut(reason, 32) if isinstance(reason, str) else None)
            return True
        if kind == "participant_state":
            return self._state(entry, body)
        return False

    def _state(self, entry: dict[str, Any], body: Mapping[str, Any]) -> bool:
        """Merge a ``participant_state`` (``{"state": {...}}``, ``{"state": "muted"}`` or
        flat fields such as ``{"muted": true}``) into the participant's state."""
        nested = body.get("state")
        if isinstance(nested, str):
            fields: Mapping[str, Any] = {"state": nested}
        elif isinstance(nested, Mapping):
            fields = nested
        else:
            fields = {k: v for k, v in body.items()
                      if k not in ("type", "conversationId", "participant", "at")}
        state = dict(entry["state"])
        for key, value in list(fields.items())[:MAX_STATE_KEYS]:
            if isinstance(value, bool | int | float) or value is None:
                state[str(key)[:32]] = value
            elif isinstance(value, str):
                state[str(key)[:32]] = cut(value, 64)
        if state == entry["state"]:
            return False
        entry["state"] = state
        return True

    def _forget_departed(self) -> None:
        while len(self.participants) > MAX_PARTICIPANTS:
            gone = next((k for k, v in self.participants.items() if not v["present"]), None)
            if gone is None:
                return
            del self.participants[gone]

    def end(self, end_time: str | None = None) -> None:
        """The call is over: stamp it, mark everyone gone, drop the replay."""
        if self.end_time is None:
            self.end_time = end_time or _now()
            for entry in self.participants.values():
                if entry["present"]:
                    entry.update(present=False, leftAt=entry["leftAt"] or self.end_time)
            for kept in self._replay.values():
                kept.clear()
            self.version += 1

    # -- views ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The summary as the API sends it (built once per version, then shared)."""
        if self._json is not None and self._json[0] == self.version:
            return self._json[1]
        body = {
            "conversationId": self.id,
            "tenantId": self.tenant,
            "meetingTitle": self.meeting_title,
            "state": "ended" if self.ended else "live",
            "startTime": self.start_time,
            "endTime": self.end_time,
            "updatedAt": self.updated,
            "participants": [{**p, "state": dict(p["state"])}
                             for p in self.participants.values()],
            **self.content.to_json(),
        }
        self._json = (self.version, body)
        return body

    def replay(self) -> list[Mapping[str, Any]]:
        """The kept results, in the order they were published."""
        kept = sorted(itertools.chain.from_iterable(self._replay.values()),
                      key=lambda item: item[0])
        return [body for _, body in kept]


class SummarySink:
    """Keeps one conversation's summary and tells the board when it changes."""

    name = "summary"

    def __init__(self, board: ConversationBoard, info: ConversationInfo) -> None:
        self.board = board
        self.summary = ConversationSummary(info.id, info.meeting_title)
        self.failures = 0
        board.started(self.summary)

    def send(self, result: Result) -> None:
        try:
            changed = self.summary.apply(result)
        except Exception:  # a summary is an extra: never let it disturb the call
            self.failures += 1
            if self.failures % 100 == 1:
                log.exception("summary of %s: a %s result could not be read (%d so far)",
                              self.summary.id, result.type, self.failures)
            return
        if self.summary.ended:
            self.board.ended(self.summary)
        elif changed:
            self.board.changed(self.summary)

    async def drain(self, timeout: float) -> None:
        """Nothing is queued: every result was applied when it was sent."""

    async def close(self) -> None:
        """The bus finished the conversation (or the gateway is stopping): it is over."""
        self.summary.end()
        self.board.ended(self.summary)


def summary_sink_factory(board: ConversationBoard) -> SinkFactory:
    """For ``LocalDirectory(outputs=[...])``: a summary for every new conversation."""

    def make(info: ConversationInfo) -> Sink:
        return SummarySink(board, info)

    return make
