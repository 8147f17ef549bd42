"""The conversation store: open (migrate), write through the sink, read, delete, purge, close.

Threads, not the event loop, talk to the database: one writer thread (every change is
serialised through it, in the order results were published) and ``read_threads`` reader
threads for the API. The store's threads are its own, apart from the recognition worker
pool, so a slow database never delays speech recognition and a long API read never delays
a commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from gateway.tasks import every

from . import writer
from .access import Principal
from .config import StoreConfig, describe
from .engine import WRITE, make_engine
from .liveness import Liveness
from .migrate import upgrade
from .queries import get_conversation, tenant_of
from .sink import StoreSink

log = logging.getLogger(__name__)
T = TypeVar("T")
PURGE_CHUNK = 100  # conversations per purge transaction (keeps each commit short)


class StoreUnavailable(RuntimeError):
    """The database could not be opened or migrated at start; the message says which."""


class Store:
    """Open with :meth:`open`; ``sink`` is the output to register for every conversation."""

    def __init__(self, config: StoreConfig, engine: Engine, write_pool: ThreadPoolExecutor,
                 read_pool: ThreadPoolExecutor) -> None:
        self.config = config
        self.engine = engine
        self._write_pool = write_pool
        self._read_pool = read_pool
        self.sink = StoreSink(config, self._run_write)
        self._retention: asyncio.Task[None] | None = None
        self._liveness: asyncio.Task[None] | None = None
        self.keeper: Liveness | None = None  # the running liveness rounds (keep_alive)
        self.schema_revision: str | None = None

    @classmethod
    async def open(cls, config: StoreConfig) -> Store:
        """Connect, apply migrations, start the writer (and the retention task)."""
        write_pool = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        read_pool = ThreadPoolExecutor(config.read_threads, thread_name_prefix="store-reader")
        loop = asyncio.get_running_loop()
        try:
            engine = await loop.run_in_executor(write_pool, make_engine, config)
        except BaseException as exc:
            write_pool.shutdown()
            read_pool.shutdown()
            if isinstance(exc, (OSError, DBAPIError)):  # no such folder, no permission…
                raise StoreUnavailable(f"conversation store {describe(config.database)}: "
                                       f"{exc}") from None
            raise
        try:
            before, after = await loop.run_in_executor(write_pool, upgrade, engine)
        except BaseException as exc:
            engine.dispose()
            write_pool.shutdown()
            read_pool.shutdown()
            if isinstance(exc, DBAPIError):
                reason = str(exc.orig or exc).strip().splitlines()[0][:300]
                raise StoreUnavailable(f"conversation store {describe(config.database)}: "
                                       f"{reason}") from None
            raise
        store = cls(config, engine, write_pool, read_pool)
        store.schema_revision = after
        store.sink.start()
        if config.retention_days is not None:
            store._retention = loop.create_task(store._retain(), name="store-retention")
        log.info("conversation store: %s (schema %s%s)%s", describe(config.database), after,
                 "" if before == after else f", migrated from {before or 'empty'}",
                 f", retention {config.retention_days:g} days" if config.retention_days else "")
        return store

    def liveness(self, live: Callable[[], Collection[str]]) -> Liveness:
        """Rounds that renew the conversations ``live()`` names and close abandoned ones
        (gateway/store/liveness.py), with this store's settings."""
        return Liveness(self.sink.command, live, interval=self.config.alive_interval,
                        abandoned_after=self.config.abandoned_after)

    def keep_alive(self, live: Callable[[], Collection[str]]) -> Liveness:
        """:meth:`liveness` rounds from now until the store closes; the first runs at once."""
        if self._liveness is not None:
            raise RuntimeError("keep_alive already started")
        liveness = self.keeper = self.liveness(live)
        self._liveness = asyncio.get_running_loop().create_task(liveness.run(),
                                                                name="store-liveness")
        return liveness

    async def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued (up to ``timeout``), stop the tasks and threads."""
        for task in (self._retention, self._liveness):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.sink.close(timeout)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        self._write_pool.shutdown(wait=True)
        self._read_pool.shutdown(wait=True)
        self.engine.dispose()

    # -- threads ---------------------------------------------------------------------------

    def _write(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as connection:
            connection = connection.execution_options(**WRITE)
            with connection.begin():
                return work(connection)

    async def _run_write(self, work: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._write_pool, self._write, work)

    def _read(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # One snapshot for the several queries of one answer.
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                return work(connection, *args, **kwargs)

    async def read(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``work(connection, *args, **kwargs)`` in a reader thread, in one transaction."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_pool,
                                          partial(self._read, work, *args, **kwargs))

    async def conversation_tenant(self, conversation_id: str) -> tuple[bool, str | None]:
        """Whether the conversation is stored, and its tenant (None: stored without one).

        Access checks ask before a client joins or watches an id that is not live here: a
        conversation keeps its first tenant, so an id another tenant used is not theirs.
        """
        return await self.read(tenant_of, conversation_id)

    # -- deletion and retention -------------------------------------------------------------

    async def delete(self, conversation_id: str, *, principal: Principal,
                     reason: str = "api") -> dict[str, int] | None:
        """Delete one conversation the principal may see, with everything stored under it.

        Ordered with the results: what was published before is deleted too, and results
        the conversation publishes afterwards (a live call) are dropped until the id starts
        a new conversation. Logged in ``deletion_log`` and the gateway log. ``None`` when
        there is no such (visible) conversation.
        """
        def run(connection: Connection) -> dict[str, int] | None:
            if get_conversation(connection, principal, conversation_id) is None:
                return None
            return writer.delete_conversation(connection, conversation_id, reason=reason,
                                              actor=principal.subject)

        removed = await self.sink.command(run, suppress=conversation_id)
        if removed is not None:
            log.info("conversation store: deleted conversation %r (%s) by %s: %s",
                     conversation_id, reason, principal.subject,
                     ", ".join(f"{k}={v}" for k, v in removed.items()))
        return removed

    async def purge(self, *, older_than_days: float | None = None,
                    now_ms: int | None = None) -> list[str]:
        """Delete every conversation whose last activity is older than the retention."""
        days = older_than_days if older_than_days is not None else self.config.retention_days
        if days is None:
            return []
        cutoff = (now_ms if now_ms is not None else int(time.time() * 1000)) - int(
            days * 86_400_000)

        def chunk(connection: Connection) -> list[str]:
            ids = writer.expired_conversations(connection, cutoff, PURGE_CHUNK)
            for cid in ids:
                writer.delete_conversation(connection, cid, reason="retention", actor=None)
            return ids

        purged: list[str] = []
        while True:
            ids = await self.sink.command(chunk)
            purged.extend(ids)
            if len(ids) < PURGE_CHUNK:
                break
        if purged:
            log.info("conversation store: retention purged %d conversations inactive for "
                     "more than %g days", len(purged), days)
        return purged

    async def _retain(self) -> None:
        await every(self.config.purge_interval, self.purge,
                    what="conversation store: retention purge")

    def stats(self) -> dict[str, Any]:
        """Counters for health pages: what was queued, stored, dropped, rejected."""
        s = self.sink.stats
        return {"pending": self.sink.pending, "queued": s.queued, "stored": s.stored,
                "skipped": s.skipped, "dropped": s.dropped, "rejected": s.rejected,
                "suppressed": s.suppressed,
                "commits": s.commits, "failedCommits": s.failed_commits,
                "lastError": s.last_error, "schema": self.schema_revision}
