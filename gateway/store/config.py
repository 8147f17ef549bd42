"""Settings of the conversation store (``--database``, ``--retention-days`` and tuning).

The store is its own feature area, so its settings live here rather than in the flat
gateway config; the gateway's flags build a :class:`StoreConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class StoreConfigError(ValueError):
    """A database URL or setting the store cannot use; the message says what to change."""


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """How and where conversations are stored.

    ``database`` is a file path or ``sqlite:///path`` (embedded default) or
    ``postgresql://user:password@host:port/db``. ``retention_days`` purges conversations
    whose last activity is older than that many days (``None`` keeps them forever).
    """

    database: str
    retention_days: float | None = None
    queue_limit: int = 10_000        # results waiting for the database before drops start
    flush_interval: float = 0.2      # longest time a result waits before its commit
    final_linger: float = 0.01       # after a final, wait this long for its insights
    batch_limit: int = 500           # results per transaction (bounds one commit's work)
    purge_interval: float = 3600.0   # seconds between retention purges
    read_threads: int = 4            # concurrent API reads (one connection each)
    busy_timeout: float = 5.0        # SQLite: wait this long for a lock before failing
    abandoned_after: float = 300.0   # an open conversation nobody renewed this long is closed

    def __post_init__(self) -> None:
        if self.retention_days is not None and not self.retention_days > 0:
            raise StoreConfigError("retention days must be a positive number")
        if self.queue_limit < 1 or self.batch_limit < 1 or self.read_threads < 1:
            raise StoreConfigError("queue_limit, batch_limit and read_threads must be >= 1")
        if not 0 < self.flush_interval <= 10:
            raise StoreConfigError("flush_interval must be in (0, 10] seconds")
        if not self.abandoned_after > 0:
            raise StoreConfigError("abandoned_after must be a positive number of seconds")
        sqlalchemy_url(self.database)  # fail at start-up, not at the first write

    @property
    def alive_interval(self) -> float:
        """Seconds between renewals of this gateway's live conversations: a fifth of
        ``abandoned_after``, so a live one would have to miss five renewals in a row (a
        stalled database, not one slow commit) before another gateway closed it."""
        return self.abandoned_after / 5


def sqlalchemy_url(database: str) -> URL:
    """The SQLAlchemy URL (driver included) for a ``--database`` value.

    ``postgresql://`` selects psycopg 3; a plain path or ``sqlite:///`` selects the
    standard library's sqlite3. In-memory SQLite is refused: the store is read and written
    from several threads, and each would see its own empty database.
    """
    text = database.strip()
    if not text:
        raise StoreConfigError("database: empty; give a file path or a postgresql:// URL")
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).expanduser().resolve()))
    try:
        url = make_url(text)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several types here
        raise StoreConfigError(f"database: not a valid URL ({exc})") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if url.get_driver_name() not in ("pysqlite", ""):
            url = url.set(drivername="sqlite")
        if not url.database or url.database == ":memory:" or "mode=memory" in text:
            raise StoreConfigError("database: in-memory SQLite is not supported; give a file")
        return url.set(database=str(Path(url.database).expanduser().resolve()))
    raise StoreConfigError(
        f"database: unsupported scheme {url.drivername!r}; use a path, sqlite:/// or postgresql://")


def describe(database: str) -> str:
    """The database for log lines: the password hidden."""
    return sqlalchemy_url(database).render_as_string(hide_password=True)
