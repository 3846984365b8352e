"""The outbox as the service's durable log: marking, comparing with the broker, pruning.

Everything here is SQL on the service's own database; the relay and the broker guard
call it. Re-publishing a row means making it pending again: the relay then sends it in
outbox order with everything else that is pending, so each complaint's events keep their
order on the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from jiesu_common.messaging.kafka import BrokerState

log = logging.getLogger(__name__)

# Relays hold this advisory lock shared for the length of a batch; a repair holds it
# exclusively, so it never compares the broker with a batch that is half recorded.
PUBLISH_LOCK = 0x6A69_6573_752D_6F62  # "jiesu-ob"

Acks = dict[tuple[str, int], int]

_LOCK_EXCLUSIVE = text(f"SELECT pg_advisory_xact_lock({PUBLISH_LOCK})")
# The relay's statements (plain asyncpg, prepared once per connection). The claim takes the
# publish lock shared in the same round trip: the CTE runs once, before any row is read.
# Each claimed row also says whether an earlier pending row of its key is not among the
# claimed ones, i.e. held by another replica's relay: such a row must wait, to keep the
# complaint's events in order.
CLAIM_PENDING = (
    f"WITH publishing AS (SELECT pg_advisory_xact_lock_shared({PUBLISH_LOCK})), "
    "claimed AS (SELECT o.id, o.topic, o.key, o.event_type, o.payload "
    "FROM outbox o, publishing WHERE o.published_at IS NULL "
    "ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED) "
    "SELECT c.id, c.topic, c.key, c.event_type, c.payload::text AS payload, "
    "EXISTS (SELECT 1 FROM outbox p WHERE p.published_at IS NULL AND p.key = c.key "
    "AND p.id < c.id AND p.id NOT IN (SELECT id FROM claimed)) AS held_elsewhere "
    "FROM claimed c ORDER BY c.id"
)
# Marks the rows and raises the acknowledged offsets in one round trip.
_MARK_PUBLISHED = (
    "WITH marked AS (UPDATE outbox SET published_at = now(), published_partition = u.p, "
    "published_offset = u.o FROM unnest($1::bigint[], $2::int[], $3::bigint[]) AS u(id, p, o) "
    "WHERE outbox.id = u.id) "
    "INSERT INTO outbox_acks (topic, partition, next_offset) "
    "SELECT * FROM unnest($4::text[], $5::int[], $6::bigint[]) "
    "ON CONFLICT (topic, partition) DO UPDATE "
    "SET next_offset = greatest(outbox_acks.next_offset, excluded.next_offset)"
)
# The same for one row, the usual batch while a service keeps up: PostgreSQL plans a
# statement over arrays anew on every execution (a plan for a one-element array is always
# cheaper than the generic one), and planning the one above costs more than running it.
# This one takes the cached generic plan.
_MARK_ONE_PUBLISHED = (
    "WITH marked AS (UPDATE outbox SET published_at = now(), published_partition = $2, "
    "published_offset = $3 WHERE id = $1) "
    "INSERT INTO outbox_acks (topic, partition, next_offset) VALUES ($4, $2, $3 + 1) "
    "ON CONFLICT (topic, partition) DO UPDATE "
    "SET next_offset = greatest(outbox_acks.next_offset, excluded.next_offset)"
)
_LOAD_ACKS = text("SELECT topic, partition, next_offset FROM outbox_acks")
_STORED_CLUSTER = text("SELECT cluster_id FROM outbox_cluster WHERE id = 1")
_STORE_CLUSTER = text(
    "INSERT INTO outbox_cluster (id, cluster_id, seen_at) VALUES (1, :cluster, now()) "
    "ON CONFLICT (id) DO UPDATE SET cluster_id = excluded.cluster_id, seen_at = now()"
)
_UNPUBLISH_ALL = text(
    "WITH reset AS (UPDATE outbox SET published_at = NULL, published_partition = NULL, "
    "published_offset = NULL WHERE published_at IS NOT NULL RETURNING id, created_at) "
    "SELECT count(*) AS n, min(created_at) AS oldest FROM reset"
)
_UNPUBLISH_PARTITION = text(
    "WITH reset AS (UPDATE outbox SET published_at = NULL, published_partition = NULL, "
    "published_offset = NULL WHERE topic = :topic AND published_partition = :partition "
    "AND published_offset >= :from_offset RETURNING id, created_at) "
    "SELECT count(*) AS n, min(created_at) AS oldest FROM reset"
)
_UNPUBLISH_SINCE = text(
    "WITH reset AS (UPDATE outbox SET published_at = NULL, published_partition = NULL, "
    "published_offset = NULL WHERE published_at IS NOT NULL AND created_at >= :since "
    "RETURNING id, created_at) SELECT count(*) AS n, min(created_at) AS oldest FROM reset"
)
_SET_ACK = text(
    "UPDATE outbox_acks SET next_offset = :next WHERE topic = :topic AND partition = :partition"
)
_PRUNE = text(
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE created_at < :cutoff "
    "AND published_at IS NOT NULL AND published_at < :cutoff LIMIT :limit)"
)
_PENDING = text("SELECT count(*) FROM outbox WHERE published_at IS NULL")


async def record_published(
    conn: asyncpg.Connection, published: Iterable[tuple[int, str, int, int]]
) -> Acks:
    """Mark rows (id, topic, partition, offset) published; returns the acks they advanced."""
    rows = list(published)
    advanced: Acks = {}
    for _, topic, partition, offset in rows:
        key = (topic, partition)
        advanced[key] = max(advanced.get(key, 0), offset + 1)
    if len(rows) == 1:
        row_id, topic, partition, offset = rows[0]
        await conn.execute(_MARK_ONE_PUBLISHED, row_id, partition, offset, topic)
        return advanced
    # The acks are upserted in one order for every relay: two relays that both advance
    # partitions 0 and 1 must not lock them in opposite orders (a deadlock).
    keys = sorted(advanced)
    await conn.execute(
        _MARK_PUBLISHED,
        [r[0] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [k[0] for k in keys],
        [k[1] for k in keys],
        [advanced[k] for k in keys],
    )
    return advanced


async def load_acks(conn: AsyncConnection) -> Acks:
    """What the broker acknowledged to this service, per topic-partition (next offset)."""
    return {(r.topic, r.partition): r.next_offset for r in await conn.execute(_LOAD_ACKS)}


@dataclass
class Repair:
    """What a comparison with the broker found and did."""

    cluster_id: str
    previous_cluster_id: str | None = None
    republished: int = 0
    oldest: datetime | None = None
    behind: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)  # end, acked
    acks: Acks = field(default_factory=dict)

    @property
    def cluster_changed(self) -> bool:
        """The broker is another cluster than the one that acknowledged our rows."""
        return self.previous_cluster_id is not None and self.previous_cluster_id != self.cluster_id

    def describe(self) -> str:
        """One log line."""
        since = f", the oldest from {self.oldest.isoformat()}" if self.oldest else ""
        if self.cluster_changed:
            why = f"the broker is a new cluster ({self.previous_cluster_id} → {self.cluster_id})"
        else:
            parts = ", ".join(
                f"{t}[{p}] end {end} < acknowledged {acked}"
                for (t, p), (end, acked) in sorted(self.behind.items())
            )
            why = f"the broker is behind what it acknowledged: {parts}"
        return f"{why}; re-publishing {self.republished} retained event(s) in order{since}"


EventIdAt = Callable[[str, int, int], Awaitable[str | None]]


async def compare_and_repair(
    conn: AsyncConnection, state: BrokerState, event_id_at: EventIdAt
) -> Repair:
    """Make pending again every retained row the broker no longer has (call under the lock).

    A new cluster id means the broker kept nothing of ours. An end offset below what it
    acknowledged means it lost the tail of that partition, once confirmed by reading the
    last acknowledged record (some brokers under-report the end): if it is missing or
    another event, every retained row from the reported end on is sent again (a few may
    be sent twice: harmless) and the acknowledged offset lowered to that end.
    """
    stored = (await conn.execute(_STORED_CLUSTER)).scalar_one_or_none()
    acks = await load_acks(conn)
    repair = Repair(cluster_id=state.cluster_id, previous_cluster_id=stored)
    if stored is not None and stored != state.cluster_id:
        row = (await conn.execute(_UNPUBLISH_ALL)).one()
        repair.republished, repair.oldest = int(row.n), row.oldest
        await conn.execute(text("DELETE FROM outbox_acks"))
        acks = {}
    else:
        for (topic, partition), acked in sorted(acks.items()):
            end = state.ends.get((topic, partition), 0)
            if end >= acked or await _still_holds(conn, event_id_at, topic, partition, acked - 1):
                continue
            repair.behind[(topic, partition)] = (end, acked)
            row = (
                await conn.execute(
                    _UNPUBLISH_PARTITION,
                    {"topic": topic, "partition": partition, "from_offset": end},
                )
            ).one()
            repair.republished += int(row.n)
            if row.oldest is not None and (repair.oldest is None or row.oldest < repair.oldest):
                repair.oldest = row.oldest
            await conn.execute(_SET_ACK, {"topic": topic, "partition": partition, "next": end})
            acks[(topic, partition)] = end
    if stored != state.cluster_id:
        await conn.execute(_STORE_CLUSTER, {"cluster": state.cluster_id})
    repair.acks = acks
    return repair


async def _still_holds(
    conn: AsyncConnection, event_id_at: EventIdAt, topic: str, partition: int, offset: int
) -> bool:
    ours = (
        await conn.execute(
            text(
                "SELECT event_id::text FROM outbox WHERE topic = :t "
                "AND published_partition = :p AND published_offset = :o"
            ),
            {"t": topic, "p": partition, "o": offset},
        )
    ).scalar_one_or_none()
    theirs = await event_id_at(topic, partition, offset)
    return theirs is not None and (ours is None or theirs == ours)


async def lock_for_repair(conn: AsyncConnection) -> None:
    """Wait for every relay batch in flight (any replica) and hold new ones back."""
    await conn.execute(_LOCK_EXCLUSIVE)


async def mark_for_republication(engine: AsyncEngine, since: datetime) -> tuple[int, Any]:
    """Make every retained row created at or after ``since`` pending again (by hand).

    Returns how many rows and the oldest retained row's time (to tell whether ``since``
    reached further back than the retention). Harmless to repeat: consumers' inboxes
    drop what they have already handled.
    """
    async with engine.begin() as conn:
        await lock_for_repair(conn)
        row = (await conn.execute(_UNPUBLISH_SINCE, {"since": since})).one()
        oldest = (await conn.execute(text("SELECT min(created_at) FROM outbox"))).scalar()
    return int(row.n), oldest


async def prune_published(engine: AsyncEngine, cutoff: datetime, batch_size: int) -> int:
    """Delete published rows older than ``cutoff``, a batch per transaction; returns how many."""
    removed = 0
    while True:
        async with engine.begin() as conn:
            result = await conn.execute(_PRUNE, {"cutoff": cutoff, "limit": batch_size})
        count = int(result.rowcount or 0)
        removed += count
        if count < batch_size:
            return removed


async def pending_rows(engine: AsyncEngine) -> int:
    """Rows not yet published."""
    async with engine.connect() as conn:
        return int((await conn.execute(_PENDING)).scalar_one())
