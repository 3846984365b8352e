"""The outbox and inbox tables every service carries in its own database."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    Table,
    Text,
    TextClause,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

OUTBOX_CHANNEL = "jiesu_outbox"


def add_messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Define ``outbox`` and ``inbox`` on a service's metadata."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("payload", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    Index("ix_outbox_key_id", outbox.c.key, outbox.c.id)
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer_group", Text, primary_key=True),
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("event_type", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return outbox, inbox


def outbox_insert_sql() -> TextClause:
    """The statement the unit of work uses to append events."""
    return text(
        "INSERT INTO outbox (event_id, topic, key, event_type, payload) "
        "VALUES (:event_id, :topic, :key, :event_type, CAST(:payload AS jsonb))"
    )


INBOX_CLAIM_SQL = text(
    "INSERT INTO inbox (consumer_group, event_id, event_type) "
    "VALUES (:group, :event_id, :event_type) ON CONFLICT DO NOTHING RETURNING event_id"
)
