"""Alembic environment: runs on the connection ``gateway.store.migrate`` hands over.

The store applies its migrations itself at start-up (inside one transaction, under a lock
on PostgreSQL), so there is no alembic.ini and no URL here.
"""

from __future__ import annotations

from alembic import context

from gateway.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the store's migrations through gateway.store.migrate")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
