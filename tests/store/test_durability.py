"""Crashes, restarts, migrations, retention and overload, on SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, func, select

from gateway.outputs.result import Result
from gateway.store.config import sqlalchemy_url
from gateway.store.migrate import head_revision
from gateway.store.schema import conversations, deletion_log, messages, metadata
from tests.store.conftest import OpenStore, StartApi
from tests.store.stream import build_conversation, with_id

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)
KILL_AFTER_FINALS = 8


def stored_message_ids(connection: Connection, cid: str) -> list[str]:
    query = select(messages.c.id).where(messages.c.conversation_id == cid).order_by(
        messages.c.seq)
    return [row[0] for row in connection.execute(query)]


@pytest.mark.slow
async def test_sigkill_mid_call_loses_at_most_the_last_phrase(
        database: str, open_store: OpenStore, start_api: StartApi) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.store.killed_writer", database, "crash-1",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout is not None
    printed: list[str] = []
    try:
        while len(printed) < KILL_AFTER_FINALS:
            line = (await asyncio.wait_for(child.stdout.readline(), 60)).decode()
            assert line, "the writer exited early"
            if line.startswith("final "):
                printed.append(line.split()[1])
        child.send_signal(signal.SIGKILL)
    finally:
        if child.returncode is None:
            child.kill()
        await asyncio.wait_for(child.wait(), 10)
    assert child.returncode == -signal.SIGKILL

    store = await open_store()  # the restart: migrations find the schema, nothing to do
    stored = await store.read(stored_message_ids, "crash-1")
    assert stored == printed[:len(stored)], "stored messages are a prefix, in order, no gap"
    assert len(stored) >= len(printed) - 1, f"lost more than the last phrase: {stored}"
    api = await start_api(store)
    status, conv = await api.get("/v1/conversations/crash-1")
    assert status == 200 and conv["endTime"] is None and len(conv["members"]) == 2
    status, body = await api.get("/v1/conversations/crash-1/messages")
    assert [m["id"] for m in body["messages"]] == stored
    if database.startswith("sqlite"):
        path = sqlalchemy_url(database).database
        with sqlite3.connect(str(path)) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_migrations_are_idempotent_and_match_the_schema(
        database: str, open_store: OpenStore) -> None:
    first = await open_store()
    assert first.schema_revision == head_revision()
    call = build_conversation("mig-1", started=NOW - timedelta(hours=1), lines=3)
    for r in call.results:
        first.sink.send(r)
    await first.sink.drain(10)
    await first.close()
    second = await open_store()  # migrates again: a no-op that keeps the data
    assert second.schema_revision == head_revision()
    assert len(await second.read(stored_message_ids, "mig-1")) == 3

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    assert await second.read(diff) == []


async def test_concurrent_starts_migrate_once(database: str, open_store: OpenStore) -> None:
    stores = await asyncio.gather(open_store(), open_store(), open_store())
    assert {s.schema_revision for s in stores} == {head_revision()}


async def test_retention_purges_old_conversations_and_logs_them(
        open_store: OpenStore, start_api: StartApi) -> None:
    template = build_conversation("tpl", started=NOW - timedelta(days=40), lines=2)
    old = [with_id(template, f"old-{n}", started=NOW - timedelta(days=40 - n)) for n in range(3)]
    recent = with_id(template, "recent", started=NOW - timedelta(days=2))
    store = await open_store()
    for c in (*old, recent):
        for r in c.results:
            store.sink.send(r)
    await store.sink.drain(10)
    purged = await store.purge(older_than_days=30)
    assert sorted(purged) == ["old-0", "old-1", "old-2"]
    api = await start_api(store)
    status, page = await api.get("/v1/conversations", startTime=(NOW - timedelta(days=90))
                                 .isoformat())
    assert [c["id"] for c in page["conversations"]] == ["recent"]

    def log(connection: Connection) -> list[tuple[str, str]]:
        return [(r.conversation_id, r.reason) for r in connection.execute(
            select(deletion_log.c.conversation_id, deletion_log.c.reason))]

    assert sorted(await store.read(log)) == [(f"old-{n}", "retention") for n in range(3)]
    assert await store.purge(older_than_days=30) == []


async def test_the_retention_task_purges_periodically(open_store: OpenStore) -> None:
    store = await open_store(retention_days=30, purge_interval=0.2)
    template = build_conversation("tpl", started=NOW - timedelta(days=40), lines=2)
    for r in with_id(template, "stale", started=NOW - timedelta(days=31)).results:
        store.sink.send(r)
    for r in with_id(template, "fresh", started=NOW - timedelta(days=29)).results:
        store.sink.send(r)
    await store.sink.drain(10)

    def ids(connection: Connection) -> list[str]:
        return [row[0] for row in connection.execute(select(conversations.c.id))]

    for _ in range(50):
        if await store.read(ids) == ["fresh"]:
            break
        await asyncio.sleep(0.1)
    assert await store.read(ids) == ["fresh"]


async def test_overload_drops_oldest_results_never_lifecycle(
        database: str, open_store: OpenStore) -> None:
    store = await open_store(queue_limit=20)
    call = build_conversation("busy-1", started=NOW - timedelta(minutes=5), lines=10)
    stored = [r for r in call.results if r.body.get("type") != "message"]
    for r in stored:  # one burst with no await: the writer cannot run meanwhile
        store.sink.send(r)
    lifecycle = [r for r in stored if r.kind == "lifecycle"]
    assert store.sink.stats.dropped == len(stored) - 20
    await store.sink.drain(10)

    def kept(connection: Connection) -> tuple[int | None, int, int]:
        row = connection.execute(select(conversations.c.end_ms, conversations.c.last_seq)
                                 .where(conversations.c.id == "busy-1")).one()
        count = connection.execute(select(func.count()).select_from(messages)).scalar()
        return (row.end_ms, row.last_seq, int(count or 0))

    end_ms, last_seq, count = await store.read(kept)
    assert end_ms is not None and last_seq == stored[-1].seq  # ended: lifecycle kept
    others = [r for r in stored if r.kind != "lifecycle"]
    survivors = others[len(others) - (20 - len(lifecycle)):]  # the newest, besides lifecycle
    assert count == sum(r.body.get("type") == "message_response" for r in survivors)
    assert 0 < count < 10 and store.sink.stats.stored == 20


async def test_a_malformed_result_costs_only_itself(database: str, open_store: OpenStore) -> None:
    store = await open_store()
    call = build_conversation("bad-1", started=NOW - timedelta(minutes=5), lines=3)
    broken = [
        Result.of("bad-1", {"type": "message_response", "messages": [{"id": "m-x"}]}, 900),
        Result.of("bad-1", {"type": "insight_response", "insights": "nope"}, 901),
        Result.of("x" * 300, {"type": "topic_response", "topics": []}, 1),
        Result.of("bad-1", {"type": "participant_joined", "participant": {}}, 902,
                  kind="lifecycle"),
        Result.of("bad-1", {"type": "message_response", "messages": [{
            "id": "m-y", "payload": {"content": "nul \x00 inside"},
            "duration": {"startTime": "2026-01-01T00:00:00Z", "endTime": "not a time"}}]}, 903),
        Result("bad-1", {"type": "message_response", "messages": [{  # not JSON-encodable
            "id": "m-z", "payload": {"content": "set"}, "metadata": {"words": [{"w": {1, 2}}]},
            "duration": {"startTime": "2026-01-01T00:00:00Z",
                         "endTime": "2026-01-01T00:00:01Z"}}]}, "", 904),
    ]
    for r in call.results[:10] + broken + call.results[10:]:
        store.sink.send(r)
    await store.sink.drain(10)
    assert store.sink.stats.rejected == len(broken)
    assert len(await store.read(stored_message_ids, "bad-1")) == 3


async def test_a_locked_database_is_retried_without_loss(tmp_path: Path,
                                                         open_store: OpenStore) -> None:
    database = f"sqlite:///{tmp_path / 'locked.db'}"
    from dataclasses import replace

    from gateway.store import Store, StoreConfig

    store = await Store.open(replace(StoreConfig(database), busy_timeout=0.05))
    try:
        blocker = sqlite3.connect(str(tmp_path / "locked.db"), isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        call = build_conversation("lock-1", started=NOW - timedelta(minutes=5), lines=4)
        for r in call.results:
            store.sink.send(r)
        await asyncio.sleep(1.0)
        assert store.sink.stats.failed_commits >= 1 and store.sink.stats.stored == 0
        blocker.execute("ROLLBACK")
        blocker.close()
        await store.sink.drain(15)
        assert len(await store.read(stored_message_ids, "lock-1")) == 4
        assert store.sink.stats.dropped == 0 and store.sink.stats.rejected == 0
    finally:
        await store.close()


def test_sync_engine_url_for_tools(database: str) -> None:
    """The URL a tool (or psql user) would use maps to a driver that connects."""
    engine = create_engine(sqlalchemy_url(database))
    with engine.connect() as connection:
        assert connection.execute(select(1)).scalar() == 1
    engine.dispose()

