"""Liveness of open conversations, and the Symbl connection that opened one.

``conversations.alive_ms`` (and an index on ``end_ms``): a gateway renews ``alive_ms`` on
the conversations it has live; any gateway closes open ones nobody renewed (their gateway
was killed), see gateway/store/liveness.py. ``conversations.connection_id`` (indexed): the
Symbl ``connectionId`` a conversation was opened under, so a caller token that names the
connection may read the conversation afterwards.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: SQLite adds it with a plain ALTER TABLE, no table rebuild.
    op.add_column("conversations", sa.Column("alive_ms", sa.BigInteger(), nullable=True))
    op.add_column("conversations", sa.Column("connection_id", sa.String(128), nullable=True))
    op.create_index("ix_conversations_end_ms", "conversations", ["end_ms"])
    op.create_index("ix_conversations_connection_id", "conversations", ["connection_id"])


def downgrade() -> None:
    op.drop_index("ix_conversations_connection_id", table_name="conversations")
    op.drop_index("ix_conversations_end_ms", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:  # SQLite: drop by table rebuild
        batch.drop_column("connection_id")
        batch.drop_column("alive_ms")
