"""The messaging tables every service carries in its own database.

``outbox`` is the service's durable log: a row is written in the same transaction as the
state change it announces, published by the relay, then *kept* (marked with the
partition, offset and time the broker acknowledged) for a retention period, so that a
broker that lost what it acknowledged can be given it again. ``outbox_acks`` holds, per
topic-partition, the next offset the broker is known to have reached for this service,
and ``outbox_cluster`` the id of the broker cluster that acknowledged it: together they
are what the service knows the broker acknowledged to it. ``inbox`` remembers consumed
event ids so a re-delivery is a no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
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

PENDING = text("published_at IS NULL")


def register_local_waker(wake: Callable[[], None]) -> Callable[[], None]:
    """Call ``wake`` after every local commit of outbox rows; returns the unregister call."""
    _LOCAL_WAKERS.add(wake)
    return lambda: _LOCAL_WAKERS.discard(wake)


def wake_local_relays() -> None:
    """Outbox rows were just committed (or made pending again) in this process."""
    for wake in tuple(_LOCAL_WAKERS):
        wake()


def add_messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Define ``outbox``, ``outbox_acks``, ``outbox_cluster`` and ``inbox`` on ``metadata``."""
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
        Column("published_at", DateTime(timezone=True)),
        Column("published_partition", Integer),
        Column("published_offset", BigInteger),
    )
    # The relay reads only pending rows; retained rows stay out of its indexes.
    Index("ix_outbox_pending", outbox.c.id, postgresql_where=PENDING)
    Index("ix_outbox_pending_key", outbox.c.key, outbox.c.id, postgresql_where=PENDING)
    # Pruning finds old rows by time; BRIN costs next to nothing on an append-mostly table.
    Index("ix_outbox_created_at", outbox.c.created_at, postgresql_using="brin")
    Table(
        "outbox_acks",
        metadata,
        Column("topic", Text, primary_key=True),
        Column("partition", Integer, primary_key=True),
        Column("next_offset", BigInteger, nullable=False),
    )
    Table(
        "outbox_cluster",
        metadata,
        Column("id", SmallInteger, primary_key=True, server_default=text("1")),
        Column("cluster_id", Text, nullable=False),
        Column("seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        CheckConstraint("id = 1", name="single_row"),
    )
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


# One statement for all of a transaction's events, on the asyncpg connection.
OUTBOX_INSERT = (
    "INSERT INTO outbox (event_id, topic, key, event_type, payload) "
    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[])"
)
# Its five arrays: event ids, topics, keys, event types, payloads.
OutboxRows = tuple[list[Any], list[str], list[str], list[str], list[str]]


def outbox_rows_cte(first: int) -> str:
    """``OUTBOX_INSERT`` as a CTE named ``outbox_rows`` of another statement, its arrays
    bound from parameter ``$first`` on (a repository's write and its events in one trip)."""
    arrays = ", ".join(
        f"${first + n}::{kind}[]"
        for n, kind in enumerate(("uuid", "text", "text", "text", "jsonb"))
    )
    return (
        "outbox_rows AS (INSERT INTO outbox (event_id, topic, key, event_type, payload) "
        f"SELECT * FROM unnest({arrays}))"
    )


# Claims a batch's event ids at once; returns the ones not handled before.
INBOX_CLAIM = (
    "INSERT INTO inbox (consumer_group, event_id, event_type) "
    "SELECT $1, * FROM unnest($2::uuid[], $3::text[]) ON CONFLICT DO NOTHING RETURNING event_id"
)

INBOX_CLAIM_SQL = text(
    "INSERT INTO inbox (consumer_group, event_id, event_type) "
    "VALUES (:group, :event_id, :event_type) ON CONFLICT DO NOTHING RETURNING event_id"
)


def upgrade_outbox_retention(op: Any) -> None:
    """Alembic step shared by every service: keep published outbox rows, know the acks.

    Rows already in the outbox were never published (published rows used to be deleted).
    """
    import sqlalchemy as sa

    op.add_column("outbox", sa.Column("published_at", sa.DateTime(timezone=True)))
    op.add_column("outbox", sa.Column("published_partition", sa.Integer()))
    op.add_column("outbox", sa.Column("published_offset", sa.BigInteger()))
    op.drop_index("ix_outbox_key_id", table_name="outbox")
    op.create_index(
        "ix_outbox_pending", "outbox", ["id"], postgresql_where=sa.text("published_at IS NULL")
    )
    op.create_index(
        "ix_outbox_pending_key",
        "outbox",
        ["key", "id"],
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"], postgresql_using="brin")
    op.create_table(
        "outbox_acks",
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition", name="pk_outbox_acks"),
    )
    op.create_table(
        "outbox_cluster",
        sa.Column("id", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("cluster_id", sa.Text(), nullable=False),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("id = 1", name="ck_outbox_cluster_single_row"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_cluster"),
    )


def downgrade_outbox_retention(op: Any) -> None:
    """Undo ``upgrade_outbox_retention`` (published rows are dropped: they were sent)."""
    op.drop_table("outbox_cluster")
    op.drop_table("outbox_acks")
    op.execute("DELETE FROM outbox WHERE published_at IS NOT NULL")
    op.drop_index("ix_outbox_created_at", table_name="outbox")
    op.drop_index("ix_outbox_pending_key", table_name="outbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.create_index("ix_outbox_key_id", "outbox", ["key", "id"])
    op.drop_column("outbox", "published_offset")
    op.drop_column("outbox", "published_partition")
    op.drop_column("outbox", "published_at")
