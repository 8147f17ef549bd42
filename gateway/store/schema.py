"""The conversation store's tables, as SQLAlchemy Core metadata (SQLite and PostgreSQL alike).

The migrations under ``migrations/versions`` create exactly these tables; a test compares
the migrated database with this metadata, so the two cannot drift apart.

Choices that keep one code path for both databases:

* Times are integer milliseconds since the Unix epoch (``*_ms``): exact, sortable and
  comparable everywhere (SQLite has no time zone aware timestamp type), and Symbl's
  timestamps carry milliseconds, so nothing is lost.
* Nested parts of the Symbl messages (words, tags, tracker references, analytics) are
  JSON columns: they are only ever read back whole, never queried into.
* Every row carries the ``seq`` of the result that wrote it (the conversation's publish
  order), and primary keys are the ids the results carry, so replaying a result is a no-op
  instead of a duplicate.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

ID = String(128)  # conversation, participant, message, insight and topic ids

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
})


def _json(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, JSON(none_as_null=True), nullable=nullable)


def _conversation_fk() -> Column[str]:
    return Column("conversation_id", ID, ForeignKey("conversations.id"), primary_key=True)


conversations = Table(
    "conversations", metadata,
    Column("id", ID, primary_key=True),
    Column("tenant", String(128), nullable=True),
    Column("name", Text, nullable=True),
    Column("type", String(32), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    _json("meta"),
    # The Symbl connectionId that opened it (a caller token naming it may read it).
    Column("connection_id", ID, nullable=True),
    # When a gateway last said it still has the conversation live (gateway/store/liveness.py).
    Column("alive_ms", BigInteger, nullable=True),
    Index(None, "start_ms"),
    Index(None, "tenant", "start_ms"),
    Index(None, "updated_ms"),
    Index(None, "end_ms"),  # finds the open ones (end_ms IS NULL) without a scan
    Index(None, "connection_id"),
)

participants = Table(
    "participants", metadata,
    _conversation_fk(),
    Column("id", ID, primary_key=True),
    Column("user_id", Text, nullable=True),
    Column("name", Text, nullable=True),
    Column("joined_ms", BigInteger, nullable=True),
    Column("left_ms", BigInteger, nullable=True),
    Column("seq", BigInteger, nullable=False),
    Index(None, "user_id"),
)

messages = Table(
    "messages", metadata,
    _conversation_fk(),
    Column("id", ID, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
    Column("participant_id", ID, nullable=True),
    _json("sender"),
    Column("text", Text, nullable=False),
    Column("original_text", Text, nullable=True),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    _json("words"),
    Column("sentiment_score", Float, nullable=True),
    Column("sentiment_suggested", String(16), nullable=True),
    Index(None, "conversation_id", "seq", "position"),
)

insights = Table(
    "insights", metadata,
    _conversation_fk(),
    Column("id", ID, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
    Column("type", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("confidence", Float, nullable=True),
    Column("message_id", ID, nullable=True),
    _json("sender", nullable=True),
    _json("assignee", nullable=True),
    Column("due_by", String(40), nullable=True),
    _json("tags"),
    Index(None, "conversation_id", "type", "seq", "position"),
)

topics = Table(
    "topics", metadata,
    _conversation_fk(),
    Column("id", ID, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("rank", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("score", Float, nullable=True),
    _json("message_ids"),
)

tracker_hits = Table(
    "tracker_hits", metadata,
    _conversation_fk(),
    Column("seq", BigInteger, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("sequence_number", Integer, nullable=True),
    Column("tracker", Text, nullable=False),
    Column("type", String(32), nullable=False),
    Column("value", Text, nullable=False),
    _json("message_refs"),
    _json("insight_refs"),
)

analytics = Table(
    "analytics", metadata,
    _conversation_fk(),
    Column("seq", BigInteger, primary_key=True),
    Column("at_ms", BigInteger, nullable=False),
    _json("metrics"),
    _json("members"),
)

deletion_log = Table(
    "deletion_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", ID, nullable=False),
    Column("tenant", String(128), nullable=True),
    Column("deleted_ms", BigInteger, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("actor", Text, nullable=True),
    _json("removed"),
    Index(None, "conversation_id"),
    Index(None, "deleted_ms"),
)

CHILD_TABLES = (analytics, tracker_hits, topics, insights, messages, participants)
"""Everything stored under a conversation, in the order a delete removes it."""
