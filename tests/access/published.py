"""What a gateway published, recorded on its bus, and the checks against the store.

A ``Recorder`` is one more output attached to every conversation (like the store's sink),
so it sees every result in publish order; ``published`` turns what it saw of one
conversation into the ``tests.store.stream.Conversation`` that
``tests/store/test_api.py::check_everything`` compares every API route against.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.outputs.result import Result
from gateway.transcript import Speaker
from tests.access.calls import Participant
from tests.store.conftest import Api
from tests.store.stream import Conversation


class Recorder:
    """A real output (``Sink``): keeps every result it is sent."""

    name = "recorder"

    def __init__(self) -> None:
        self.results: list[Result] = []

    def send(self, result: Result) -> None:
        self.results.append(result)

    async def drain(self, timeout: float) -> None:
        return None

    async def close(self) -> None:
        return None


def published(recorder: Recorder, conversation_id: str) -> Conversation:
    results = [r for r in recorder.results if r.conversation_id == conversation_id]
    started = next(r.body for r in results if r.type == "conversation_started")
    speakers = [Speaker(user_id=p.get("userId"), name=p.get("name"), id=p["id"])
                for p in (r.body["participant"] for r in results
                          if r.type == "participant_joined")]
    return Conversation(conversation_id, results, speakers,
                        started=datetime.fromisoformat(started["startTime"]),
                        tenant=started.get("tenantId"), title=started.get("meetingTitle"))


async def check_against_data_channels(api: Api, conversation_id: str,
                                      *participants: Participant) -> list[dict[str, Any]]:
    """The stored transcript against what each participant's data channel delivered:
    each saw an ordered part of it (people hear the finals said while they are in the
    call), together everything, each line once, with the same text and speaker."""
    status, body = await api.get(f"/v1/conversations/{conversation_id}/messages")
    assert status == 200, body
    stored: list[dict[str, Any]] = body["messages"]
    ids = [m["id"] for m in stored]
    assert len(ids) == len(set(ids)), "a stored message is doubled"
    by_id = {m["id"]: m for m in stored}
    seen: set[str] = set()
    for participant in participants:
        delivered = participant.finals()
        got = [m["id"] for m in delivered]
        assert len(got) == len(set(got)), f"{participant.name} got a final twice"
        assert got == [i for i in ids if i in set(got)], "stored in another order"
        for message in delivered:
            row = by_id[message["id"]]  # KeyError: delivered but not stored
            assert row["text"] == message["payload"]["content"]
            assert row["from"]["id"] == message["from"]["id"]
            assert row["startTime"] == message["duration"]["startTime"]
        seen.update(got)
    assert seen == set(ids), "stored messages nobody was sent"
    return stored
