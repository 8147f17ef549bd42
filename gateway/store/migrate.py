"""Apply the store's schema migrations (Alembic) at start-up, safely and idempotently.

The whole upgrade runs in one transaction: on SQLite that transaction holds the write lock
from its first statement (``BEGIN IMMEDIATE``); on PostgreSQL it first takes an advisory
lock, so two gateways starting together against one database migrate one after the other
and the second finds nothing to do. A database already at the newest revision is left
untouched; a database from a *newer* gateway (an unknown revision) is refused rather than
written with a schema this code does not know.

Maintainers create a new revision from the changed ``schema.py`` with
``python3 -m gateway.store.migrate --database sqlite:///tmp/x.db revision "what changed"``
(autogenerate against a database migrated to the current head), then review it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from .config import StoreConfig
from .engine import WRITE, make_engine

MIGRATIONS = Path(__file__).with_name("migrations")
PG_LOCK_KEY = 7_411_202_612  # arbitrary constant: "the conversation store is migrating"


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer gateway than this one."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (revision before, revision after)."""
    script = ScriptDirectory.from_config(alembic_config())
    with engine.connect() as connection:
        connection = connection.execution_options(**WRITE)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": PG_LOCK_KEY})
            before = current_revision(connection)
            if before is not None and before not in {s.revision for s in script.walk_revisions()}:
                raise SchemaTooNew(
                    f"database schema revision {before!r} is newer than this gateway knows "
                    f"(newest known {script.get_current_head()!r}); upgrade the gateway")
            command.upgrade(alembic_config(connection), "head")
            after = current_revision(connection)
    assert after is not None
    return before, after


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m gateway.store.migrate",
                                     description="The conversation store's schema migrations.")
    parser.add_argument("--database", required=True, help="path, sqlite:/// or postgresql:// URL")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("upgrade", help="apply all migrations (the gateway also does at start)")
    sub.add_parser("current", help="print the database's revision")
    revision = sub.add_parser("revision", help="autogenerate a revision from schema.py")
    revision.add_argument("message")
    args = parser.parse_args(argv)
    engine = make_engine(StoreConfig(args.database))
    try:
        if args.command == "upgrade":
            before, after = upgrade(engine)
            print(f"schema: {before or 'empty'} -> {after}")
        elif args.command == "current":
            with engine.connect() as connection:
                print(current_revision(connection) or "empty")
        else:
            upgrade(engine)
            with engine.begin() as connection:
                command.revision(alembic_config(connection), message=args.message,
                                 autogenerate=True)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
