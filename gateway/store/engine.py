"""One SQLAlchemy engine for SQLite and PostgreSQL, set up for a live writer and API readers.

SQLAlchemy Core (sync) runs in the store's own threads (see ``store.py``), with the
standard library's sqlite3 or psycopg 3 underneath, so statement building, JSON encoding
and result decoding never run on the event loop.

SQLite specifics, applied to every connection:

* WAL journal: readers (the API) never block the writer and the writer never blocks
  readers; one writer at a time is all the store needs.
* ``synchronous=NORMAL``: in WAL mode a committed transaction survives a crash of the
  process (SIGKILL); only a power loss may roll back the last commits. ``FULL`` would
  add an fsync per commit for that case.
* ``foreign_keys=ON`` (off by default in SQLite) so rows cannot outlive their conversation.
* sqlite3's own transaction handling is switched off and SQLAlchemy emits ``BEGIN`` (the
  recipe in SQLAlchemy's SQLite dialect documentation): sqlite3 otherwise runs DDL outside
  transactions, and a migration interrupted half-way would leave half a schema.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from .config import StoreConfig, sqlalchemy_url


def make_engine(config: StoreConfig) -> Engine:
    url = sqlalchemy_url(config.database)
    pool_size = config.read_threads + 1  # the readers and the one writer
    if url.get_backend_name() == "sqlite":
        _create_private_file(Path(str(url.database)))
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=0,
            connect_args={"timeout": config.busy_timeout, "check_same_thread": False})
        _sqlite_setup(engine, config)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=0, pool_pre_ping=True)


def _create_private_file(path: Path) -> None:
    """Create the database file readable by its owner only (transcripts are personal data);
    SQLite gives its -wal and -shm files the same permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _sqlite_setup(engine: Engine, config: StoreConfig) -> None:
    busy_ms = int(config.busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            _enable_wal(cursor, config.busy_timeout)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # The writer takes the write lock up front (IMMEDIATE): a deferred transaction that
        # reads before writing can fail with SQLITE_BUSY instead of waiting its turn.
        immediate = conn.get_execution_options().get("store_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _enable_wal(cursor: Any, timeout: float) -> None:
    """Switch to the WAL journal, waiting up to ``timeout`` for other connections.

    On a new database the switch needs the exclusive lock, and when another connection
    (another gateway starting at the same moment) holds a shared one, SQLite answers
    "database is locked" at once instead of calling the busy handler (it would deadlock).
    Runs in the store's worker threads, never on the event loop.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


WRITE = {"store_write": True}
"""Execution options for connections that write (see ``_on_begin``)."""
