"""A killed gateway's open conversations get their end; live ones never do (SQLite and
PostgreSQL alike). gateway/store/liveness.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, select

from gateway.store import Store, StoreConfig
from gateway.store.config import StoreConfigError
from gateway.store.schema import conversations, participants
from tests.store.conftest import OpenStore, StartApi
from tests.store.stream import build_conversation

HOUR_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
FAST = {"abandoned_after": 0.5}  # renewed every 0.1 s


def row(connection: Connection, cid: str) -> dict[str, Any]:
    found = connection.execute(select(conversations).where(conversations.c.id == cid)).first()
    assert found is not None, cid
    return dict(found._mapping)


def left_times(connection: Connection, cid: str) -> list[int | None]:
    return [r[0] for r in connection.execute(
        select(participants.c.left_ms).where(participants.c.conversation_id == cid))]


async def write_open_call(store: Store, cid: str, started: datetime = HOUR_AGO) -> int:
    """A call's results up to its middle (no end: its gateway died); its last write, ms."""
    call = build_conversation(cid, started=started, lines=4, ended=False)
    for result in call.results:
        store.sink.send(result)
    await store.sink.drain(10)
    return round(max(r.at for r in call.results) * 1000)


async def wait_until(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_killed_gateways_call_ends_at_its_last_activity(
        open_store: OpenStore, start_api: StartApi) -> None:
    first = await open_store()
    last_write = await write_open_call(first, "killed-1")
    await first.close()  # stands for kill -9: nothing ends the conversation

    restarted = await open_store(**FAST)
    api = await start_api(restarted)
    status, conv = await api.get("/v1/conversations/killed-1")
    assert status == 200 and conv["endTime"] is None, conv
    restarted.keep_alive(lambda: [])

    async def ended() -> bool:
        return (await api.get("/v1/conversations/killed-1"))[1]["endTime"] is not None
    await wait_until(ended)
    stored = await restarted.read(row, "killed-1")
    assert stored["end_ms"] == last_write, "the end is the last thing heard, not the restart"
    assert await restarted.read(left_times, "killed-1") == [last_write, last_write]
    # Its messages are all still there.
    status, body = await api.get("/v1/conversations/killed-1/messages")
    assert status == 200 and len(body["messages"]) == 4


async def test_live_conversations_are_renewed_and_never_closed(open_store: OpenStore) -> None:
    # Two gateways on one database (a cluster, or several sharing PostgreSQL): each renews
    # its own call; a third conversation, whose gateway is gone, is closed by either.
    config = {"abandoned_after": 1.5}  # renewed every 0.3 s
    a, b = await open_store(**config), await open_store(**config)
    a.keep_alive(lambda: ["on-a"])
    b.keep_alive(lambda: ["on-b"])
    template = build_conversation("t", started=HOUR_AGO, lines=4, ended=False)
    span = max(r.at for r in template.results) - HOUR_AGO.timestamp()
    just_now = datetime.now(UTC) - timedelta(seconds=span + 0.2)  # last word 0.2 s ago
    for store, cid in ((a, "on-a"), (b, "on-b"), (a, "orphan")):
        await write_open_call(store, cid, started=just_now)

    async def orphan_closed() -> bool:
        return (await a.read(row, "orphan"))["end_ms"] is not None
    await wait_until(orphan_closed)
    await asyncio.sleep(config["abandoned_after"] * 2)  # well past the deadline, many rounds
    now_ms = datetime.now(UTC).timestamp() * 1000
    for cid in ("on-a", "on-b"):
        live = await a.read(row, cid)
        assert live["end_ms"] is None, cid
        assert now_ms - live["alive_ms"] < 1000, "renewed every round"


async def test_a_closed_conversation_used_again_is_open_again(open_store: OpenStore) -> None:
    store = await open_store()
    liveness = store.liveness(lambda: [])
    await write_open_call(store, "again-1")
    swept = await liveness.round()
    assert swept.closed == ["again-1"]
    assert (await liveness.round()).closed == [], "closed once"
    # The id comes back (a resume taken over by another node, a new call under the id).
    await write_open_call(store, "again-1", started=HOUR_AGO + timedelta(minutes=50))
    assert (await store.read(row, "again-1"))["end_ms"] is None
    swept = await store.liveness(lambda: ["again-1"]).round()
    assert swept.renewed == 1 and swept.closed == []


async def test_a_conversation_that_ended_keeps_its_own_end(open_store: OpenStore) -> None:
    store = await open_store()
    call = build_conversation("ended-1", started=HOUR_AGO, lines=2, ended=True)
    for result in call.results:
        store.sink.send(result)
    await store.sink.drain(10)
    end = (await store.read(row, "ended-1"))["end_ms"]
    assert end is not None
    swept = await store.liveness(lambda: ["ended-1"]).round()
    assert swept.renewed == 0 and swept.closed == []
    assert (await store.read(row, "ended-1"))["end_ms"] == end


def test_live_conversations_are_renewed_five_times_per_deadline() -> None:
    assert StoreConfig("sqlite:///x.db").alive_interval == 60  # default deadline: 300 s
    assert StoreConfig("sqlite:///x.db", abandoned_after=10).alive_interval == 2
    with pytest.raises(StoreConfigError, match="positive"):
        StoreConfig("sqlite:///x.db", abandoned_after=0)
