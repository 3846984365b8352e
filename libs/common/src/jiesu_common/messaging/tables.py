"""The outbox and inbox tables every service carries in its own database."""

from __future__ import annotations

from collections.abc import Callable

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

# Relays in this process, woken right after a unit of work commits outbox rows. Every
# process that writes events (serve and worker alike) runs a relay, so no NOTIFY is needed:
# a NOTIFY in the transaction would take PostgreSQL's cluster-wide notify lock through
# the commit's flush and serialize every service's commits. Other relays still poll.
_LOCAL_WAKERS: set[Callable[[], None]] = set()


def register_local_waker(wake: Callable[[], None]) -> Callable[[], None]:
    """Call ``wake`` after every local commit of outbox rows; returns the unregister call."""
    _LOCAL_WAKERS.add(wake)
    return lambda: _LOCAL_WAKERS.discard(wake)


def wake_local_relays() -> None:
    """Outbox rows were just committed in this process."""
    for wake in tuple(_LOCAL_WAKERS):
        wake()


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
