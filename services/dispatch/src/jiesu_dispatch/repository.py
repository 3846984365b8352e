"""Dispatch's data access."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from jiesu_common.db.sql import FastRepository, Row, insert_once, values_of
from jiesu_common.messaging.tables import OutboxRows, outbox_rows_cte
from jiesu_dispatch import orm

# A closed complaint: its state, and in the same trip what its history example needs (the
# snapshot and every round's assignment, first round first; no round: one row of nulls).
_CLOSE = (
    f"WITH ref AS (UPDATE {orm.complaint_refs.name} SET state = 'closed' WHERE complaint_id = $1 "
    "RETURNING summary, jurisdiction) "
    "SELECT ref.summary AS ref_summary, ref.jurisdiction AS ref_jurisdiction, a.* "
    f"FROM ref LEFT JOIN {orm.assignments.name} AS a ON a.complaint_id = $1 ORDER BY a.round"
)


@functools.lru_cache(maxsize=32)
def _assign(columns: str, placeholders: str, n: int, with_outbox: bool) -> str:
    # The round's assignment, the complaint's new state and (with_outbox) the events queued
    # so far in one round trip.
    events = f", {outbox_rows_cte(n + 4)}" if with_outbox else ""
    return (
        f"WITH a AS (INSERT INTO assignments ({columns}) VALUES ({placeholders})){events} "
        f"UPDATE complaint_refs SET state = 'assigned', current_round = ${n + 1}, "
        f"category_code = ${n + 2} WHERE complaint_id = ${n + 3}"
    )


class DispatchRepository(FastRepository):
    """Reads and writes dispatch's tables inside one session (hot paths on its connection)."""

    async def remember_complaint(self, row: dict[str, Any]) -> bool:
        """Store a complaint snapshot once; False when it was already known."""
        columns, placeholders, args = values_of(orm.complaint_refs, row)
        return (
            await (await self.conn()).fetchval(
                insert_once(orm.complaint_refs.name, columns, placeholders, "complaint_id"), *args
            )
            is not None
        )

    async def record_assignment(
        self, row: dict[str, Any], *, outbox: OutboxRows | None = None
    ) -> None:
        """Insert one round's assignment (unique per complaint and round); the complaint
        is then assigned, in that round and category. ``outbox`` (the unit of work's
        ``take_outbox_rows``): events written by the same statement."""
        columns, placeholders, args = values_of(orm.assignments, row)
        sql = _assign(columns, placeholders, len(args), outbox is not None)
        await (await self.conn()).execute(
            sql, *args, row["round"], row["category_code"], row["complaint_id"], *(outbox or ())
        )

    async def complaint(self, complaint_id: uuid.UUID, *, for_update: bool = False) -> Any | None:
        """A known complaint, optionally row-locked."""
        query = select(orm.complaint_refs).where(orm.complaint_refs.c.complaint_id == complaint_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def update_complaint(self, complaint_id: uuid.UUID, **values: Any) -> None:
        """Change a known complaint's dispatch state."""
        await self.session.execute(
            update(orm.complaint_refs)
            .where(orm.complaint_refs.c.complaint_id == complaint_id)
            .values(**values)
        )

    async def close_complaint(self, complaint_id: uuid.UUID) -> tuple[Any | None, list[Any]]:
        """Mark a known complaint closed; returns its snapshot (``summary``,
        ``jurisdiction``; None when unknown) and its rounds' assignments, in one trip."""
        records = await (await self.conn()).fetch(_CLOSE, complaint_id)
        if not records:
            return None, []
        ref = {"summary": records[0]["ref_summary"], "jurisdiction": records[0]["ref_jurisdiction"]}
        rounds = [Row(r) for r in records if r["id"] is not None]
        return ref, rounds

    async def assignments_of(self, complaint_id: uuid.UUID) -> list[Any]:
        """Every round's assignment, first round first."""
        query = (
            select(orm.assignments)
            .where(orm.assignments.c.complaint_id == complaint_id)
            .order_by(orm.assignments.c.round)
        )
        return list((await self.session.execute(query)).all())

    async def enqueue(self, row: dict[str, Any]) -> None:
        """Put a complaint in front of the human dispatchers."""
        await self.session.execute(
            pg_insert(orm.dispatch_queue).values(**row).on_conflict_do_nothing()
        )

    async def dequeue(self, complaint_id: uuid.UUID) -> None:
        """Take a complaint out of the queue."""
        await self.session.execute(
            delete(orm.dispatch_queue).where(orm.dispatch_queue.c.complaint_id == complaint_id)
        )

    async def queue_page(
        self, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Any]:
        """Oldest first; the join brings the complaint summary along."""
        q, c = orm.dispatch_queue, orm.complaint_refs
        query = (
            select(q, c.c.summary, c.c.jurisdiction)
            .join(c, c.c.complaint_id == q.c.complaint_id)
            .order_by(q.c.queued_at, q.c.complaint_id)
            .limit(limit + 1)
        )
        if after is not None:
            query = query.where(tuple_(q.c.queued_at, q.c.complaint_id) > tuple_(*after))
        return list((await self.session.execute(query)).all())

    async def current_rules(self) -> Any | None:
        """The newest routing-rule version."""
        t = orm.routing_rule_versions
        return (await self.session.execute(select(t).order_by(t.c.version.desc()).limit(1))).first()

    async def rules_version(self, version: int) -> Any | None:
        """One routing-rule version."""
        t = orm.routing_rule_versions
        return (await self.session.execute(select(t).where(t.c.version == version))).first()

    async def rule_history(self) -> list[Any]:
        """Every version's metadata, newest first."""
        t = orm.routing_rule_versions
        query = select(t.c.version, t.c.note, t.c.created_by, t.c.created_at).order_by(
            t.c.version.desc()
        )
        return list((await self.session.execute(query)).all())

    async def add_rules_version(
        self, *, version: int, rules: list[dict[str, Any]], note: str | None, created_by: str
    ) -> bool:
        """Insert a version; False when another writer took that number first."""
        result = await self.session.execute(
            pg_insert(orm.routing_rule_versions)
            .values(version=version, rules=rules, note=note, created_by=created_by)
            .on_conflict_do_nothing()
            .returning(orm.routing_rule_versions.c.version)
        )
        return result.first() is not None

    async def latest_directory(self) -> dict[str, Any] | None:
        """The newest directory snapshot's data."""
        t = orm.directory_snapshots
        row = (
            await self.session.execute(select(t.c.data).order_by(t.c.loaded_at.desc()).limit(1))
        ).first()
        return row.data if row else None

    async def add_directory(self, version: str, data: dict[str, Any]) -> bool:
        """Store a directory snapshot once per version."""
        result = await self.session.execute(
            pg_insert(orm.directory_snapshots)
            .values(version=version, data=data)
            .on_conflict_do_nothing()
            .returning(orm.directory_snapshots.c.version)
        )
        return result.first() is not None

    # --- returns and extensions ----------------------------------------------------------

    async def add_request(self, table: str, row: dict[str, Any]) -> bool:
        """Store a unit's return or extension request once; False when already known."""
        t = orm.metadata.tables[table]
        result = await self.session.execute(
            pg_insert(t).values(**row).on_conflict_do_nothing().returning(t.c[row_key(table)])
        )
        return result.first() is not None

    async def request(self, table: str, request_id: uuid.UUID, *, for_update: bool = False) -> Any:
        """One return or extension request, optionally row-locked."""
        t = orm.metadata.tables[table]
        query = select(t).where(t.c[row_key(table)] == request_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def decide_request(self, table: str, request_id: uuid.UUID, **values: Any) -> None:
        """Record the centre's decision on a request."""
        t = orm.metadata.tables[table]
        await self.session.execute(
            update(t).where(t.c[row_key(table)] == request_id).values(**values)
        )

    async def requests_page(
        self,
        table: str,
        *,
        status: str | None,
        complaint_id: uuid.UUID | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
        unit_id: str | None = None,
    ) -> list[Any]:
        """Requests oldest first, optionally of one status, one complaint or one unit."""
        t = orm.metadata.tables[table]
        at, key = t.c[requested_at(table)], t.c[row_key(table)]
        query = select(t).order_by(at, key).limit(limit + 1)
        if status is not None:
            query = query.where(t.c.status == status)
        if complaint_id is not None:
            query = query.where(t.c.complaint_id == complaint_id)
        if unit_id is not None:
            query = query.where(t.c.unit_id == unit_id)
        if after is not None:
            query = query.where(tuple_(at, key) > tuple_(*after))
        return list((await self.session.execute(query)).all())

    async def returns_of(self, complaint_id: uuid.UUID) -> list[Any]:
        """Every return of a complaint, oldest first."""
        t = orm.returns
        query = select(t).where(t.c.complaint_id == complaint_id).order_by(t.c.returned_at)
        return list((await self.session.execute(query)).all())

    async def returned_units(self, complaint_id: uuid.UUID) -> frozenset[str]:
        """Units whose return of this complaint was approved: never routed to it again."""
        t = orm.returns
        query = select(t.c.unit_id).where(
            t.c.complaint_id == complaint_id, t.c.status == "approved"
        )
        return frozenset((await self.session.execute(query)).scalars())

    async def unit_contacts(self, unit_id: str) -> list[Any]:
        """A unit's contacts (duty, head, district supervisor)."""
        t = orm.unit_contacts
        query = select(t).where(t.c.unit_id == unit_id).order_by(t.c.role)
        return list((await self.session.execute(query)).all())

    async def seed_unit_contacts(self, rows: list[dict[str, Any]]) -> None:
        """Add the contacts of units that have none yet (edited contacts are never touched)."""
        t = orm.unit_contacts
        known = set((await self.session.execute(select(t.c.unit_id).distinct())).scalars())
        rows = [r for r in rows if r["unit_id"] not in known]
        if rows:
            await self.session.execute(
                pg_insert(orm.unit_contacts).values(rows).on_conflict_do_nothing()
            )

    async def replace_unit_contacts(self, unit_id: str, rows: list[dict[str, Any]]) -> None:
        """A unit's contacts, all at once."""
        t = orm.unit_contacts
        await self.session.execute(delete(t).where(t.c.unit_id == unit_id))
        if rows:
            await self.session.execute(insert(t).values(rows))

    async def reply_review_policy(self) -> list[tuple[str, str]]:
        """The (scope, code) pairs whose replies the centre reviews."""
        t = orm.reply_review_policy
        rows = await self.session.execute(select(t.c.scope, t.c.code).order_by(t.c.scope, t.c.code))
        return [(r.scope, r.code) for r in rows]

    async def replace_reply_review_policy(
        self, pairs: list[tuple[str, str]], *, updated_by: str
    ) -> None:
        """Replace the whole policy (one DELETE, one INSERT)."""
        t = orm.reply_review_policy
        await self.session.execute(t.delete())
        if pairs:
            await self.session.execute(
                insert(t).values(
                    [{"scope": s, "code": c, "updated_by": updated_by} for s, c in pairs]
                )
            )


class ConsultationRepository:
    """Consultations, their positions, and whistles."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: dict[str, Any]) -> bool:
        """Open a consultation; False when the complaint already has an open one."""
        t = orm.consultations
        result = await self.session.execute(
            pg_insert(t).values(**row).on_conflict_do_nothing().returning(t.c.consultation_id)
        )
        return result.first() is not None

    async def get(self, consultation_id: uuid.UUID, *, for_update: bool = False) -> Any | None:
        """One consultation, optionally row-locked."""
        t = orm.consultations
        query = select(t).where(t.c.consultation_id == consultation_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def open_of(self, complaint_id: uuid.UUID) -> Any | None:
        """The complaint's open consultation, locked, if any."""
        t = orm.consultations
        query = (
            select(t)
            .where(t.c.complaint_id == complaint_id, t.c.status == "open")
            .with_for_update()
        )
        return (await self.session.execute(query)).first()

    async def update(self, consultation_id: uuid.UUID, **values: Any) -> None:
        """Change a consultation."""
        t = orm.consultations
        await self.session.execute(
            update(t).where(t.c.consultation_id == consultation_id).values(**values)
        )

    async def page(
        self,
        *,
        status: str | None,
        complaint_id: uuid.UUID | None,
        unit_id: str | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Any]:
        """Consultations oldest first; ``unit_id`` keeps those the unit was invited to."""
        t = orm.consultations
        query = select(t).order_by(t.c.opened_at, t.c.consultation_id).limit(limit + 1)
        if status is not None:
            query = query.where(t.c.status == status)
        if complaint_id is not None:
            query = query.where(t.c.complaint_id == complaint_id)
        if unit_id is not None:
            query = query.where(t.c.participants.contains([unit_id]))
        if after is not None:
            query = query.where(tuple_(t.c.opened_at, t.c.consultation_id) > tuple_(*after))
        return list((await self.session.execute(query)).all())

    async def add_position(self, row: dict[str, Any]) -> None:
        """Append a participant's position."""
        await self.session.execute(insert(orm.consultation_positions).values(**row))

    async def positions(self, consultation_ids: list[uuid.UUID]) -> list[Any]:
        """The positions of some consultations, oldest first."""
        t = orm.consultation_positions
        query = select(t).where(t.c.consultation_id.in_(consultation_ids)).order_by(t.c.id)
        return list((await self.session.execute(query)).all())

    async def claim_due(self, now: datetime, limit: int) -> list[Any]:
        """Open consultations past their deadline, locked; other replicas skip them."""
        t = orm.consultations
        query = (
            select(t)
            .where(t.c.status == "open", t.c.deadline <= now)
            .order_by(t.c.deadline)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(query)).all())

    async def whistles_page(
        self,
        *,
        complaint_id: uuid.UUID | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Any]:
        """Whistles, the latest blown first."""
        t = orm.whistles
        query = select(t).order_by(t.c.blown_at.desc(), t.c.whistle_id.desc()).limit(limit + 1)
        if complaint_id is not None:
            query = query.where(t.c.complaint_id == complaint_id)
        if after is not None:
            query = query.where(tuple_(t.c.blown_at, t.c.whistle_id) < tuple_(*after))
        return list((await self.session.execute(query)).all())

    async def add_whistle(self, row: dict[str, Any]) -> bool:
        """Record a whistle once; False when it was already recorded."""
        t = orm.whistles
        result = await self.session.execute(
            pg_insert(t).values(**row).on_conflict_do_nothing().returning(t.c.whistle_id)
        )
        return result.first() is not None


_ROW_KEYS = {
    "returns": "return_id",
    "extensions": "extension_id",
    "pauses": "pause_id",
    "reply_reviews": "reply_review_id",
}


def row_key(table: str) -> str:
    """The id column of the tables of units' requests to the centre."""
    return _ROW_KEYS[table]


def requested_at(table: str) -> str:
    """The time column those requests are listed by (oldest first)."""
    return "returned_at" if table == "returns" else "requested_at"
