"""Initial schema: conversations, participants, messages, insights, topics, tracker hits,
analytics snapshots and the deletion audit log.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(128)


def _json(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(none_as_null=True), nullable=nullable)


def _child(name: str, *columns: Any) -> None:
    fk = sa.Column("conversation_id", ID, nullable=False)
    op.create_table(
        name, fk, *columns,
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=f"fk_{name}_conversation_id"),
    )


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", ID, nullable=False),
        sa.Column("tenant", sa.String(128), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        _json("meta"),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
    )
    op.create_index("ix_conversations_start_ms", "conversations", ["start_ms"])
    op.create_index("ix_conversations_tenant_start_ms", "conversations", ["tenant", "start_ms"])
    op.create_index("ix_conversations_updated_ms", "conversations", ["updated_ms"])

    _child(
        "participants",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("joined_ms", sa.BigInteger(), nullable=True),
        sa.Column("left_ms", sa.BigInteger(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "id", name="pk_participants"),
    )
    op.create_index("ix_participants_user_id", "participants", ["user_id"])

    _child(
        "messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("participant_id", ID, nullable=True),
        _json("sender"),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("original_text", sa.Text(), nullable=True),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        _json("words"),
        sa.Column("sentiment_score", sa.Float(), nullable=True),
        sa.Column("sentiment_suggested", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("conversation_id", "id", name="pk_messages"),
    )
    op.create_index("ix_messages_conversation_id_seq_position", "messages",
                    ["conversation_id", "seq", "position"])

    _child(
        "insights",
        sa.Column("id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("message_id", ID, nullable=True),
        _json("sender", nullable=True),
        _json("assignee", nullable=True),
        sa.Column("due_by", sa.String(40), nullable=True),
        _json("tags"),
        sa.PrimaryKeyConstraint("conversation_id", "id", name="pk_insights"),
    )
    op.create_index("ix_insights_conversation_id_type_seq_position", "insights",
                    ["conversation_id", "type", "seq", "position"])

    _child(
        "topics",
        sa.Column("id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        _json("message_ids"),
        sa.PrimaryKeyConstraint("conversation_id", "id", name="pk_topics"),
    )

    _child(
        "tracker_hits",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sequence_number", sa.Integer(), nullable=True),
        sa.Column("tracker", sa.Text(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _json("message_refs"),
        _json("insight_refs"),
        sa.PrimaryKeyConstraint("conversation_id", "seq", "position", name="pk_tracker_hits"),
    )

    _child(
        "analytics",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        _json("metrics"),
        _json("members"),
        sa.PrimaryKeyConstraint("conversation_id", "seq", name="pk_analytics"),
    )

    op.create_table(
        "deletion_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", ID, nullable=False),
        sa.Column("tenant", sa.String(128), nullable=True),
        sa.Column("deleted_ms", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("actor", sa.Text(), nullable=True),
        _json("removed"),
        sa.PrimaryKeyConstraint("id", name="pk_deletion_log"),
    )
    op.create_index("ix_deletion_log_conversation_id", "deletion_log", ["conversation_id"])
    op.create_index("ix_deletion_log_deleted_ms", "deletion_log", ["deleted_ms"])


def downgrade() -> None:
    for table in ("deletion_log", "analytics", "tracker_hits", "topics", "insights",
                  "messages", "participants", "conversations"):
        op.drop_table(table)
