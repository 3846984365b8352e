"""metrics' data access: order-independent upserts of facts, clock claims, read models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from jiesu_metrics import orm
from jiesu_metrics.domain import clock_id_for

# Which column keeps which value when facts about one clock arrive in any order.
_CLOCK_MERGE = {
    "role": "COALESCE(clocks.role, EXCLUDED.role)",
    "case_id": "COALESCE(clocks.case_id, EXCLUDED.case_id)",
    "started_at": "COALESCE(clocks.started_at, EXCLUDED.started_at)",
    "deadline": "COALESCE(clocks.deadline, EXCLUDED.deadline)",
    "extended_deadline": "GREATEST(clocks.extended_deadline, EXCLUDED.extended_deadline)",
    "stopped_at": "LEAST(clocks.stopped_at, EXCLUDED.stopped_at)",
}


class MetricsRepository:
    """Reads and writes metrics' tables inside one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- facts -------------------------------------------------------------------------

    async def complaint_fact(self, complaint_id: uuid.UUID, **values: Any) -> None:
        """Merge facts about a complaint; timestamps keep their first value, rounds their max."""
        t = orm.complaint_facts
        stmt = pg_insert(t).values(complaint_id=complaint_id, **values)
        merged: dict[str, Any] = {}
        for key in values:
            if key == "current_round":
                merged[key] = func.greatest(t.c.current_round, stmt.excluded.current_round)
            else:
                merged[key] = func.coalesce(t.c[key], stmt.excluded[key])
        if merged:
            await self.session.execute(
                stmt.on_conflict_do_update(index_elements=["complaint_id"], set_=merged)
            )
        else:
            await self.session.execute(stmt.on_conflict_do_nothing())

    async def add_round(self, row: dict[str, Any]) -> None:
        """Remember one assignment round (once)."""
        await self.session.execute(pg_insert(orm.rounds).values(**row).on_conflict_do_nothing())

    async def merge_clock(
        self, complaint_id: uuid.UUID, round_no: int, unit_id: str, clock: str, **values: Any
    ) -> Any:
        """Upsert what is known of a clock; returns the merged row (locked by the upsert)."""
        t = orm.clocks
        row = {
            "clock_id": clock_id_for(complaint_id, round_no, unit_id, clock),
            "complaint_id": complaint_id,
            "round": round_no,
            "unit_id": unit_id,
            "clock": clock,
            **values,
        }
        set_ = {key: text(_CLOCK_MERGE[key]) for key in values}
        stmt = (
            pg_insert(t)
            .values(**row)
            .on_conflict_do_update(
                index_elements=["complaint_id", "round", "unit_id", "clock"], set_=set_
            )
            .returning(*t.c)
        )
        return (await self.session.execute(stmt)).one()

    async def set_clock(self, clock_id: uuid.UUID, **values: Any) -> None:
        """Update a clock's ladder state."""
        t = orm.clocks
        await self.session.execute(update(t).where(t.c.clock_id == clock_id).values(**values))

    async def merge_return(self, case_id: uuid.UUID, **values: Any) -> None:
        """Merge what is known of a return (the return and its decision come on two topics)."""
        t = orm.returns
        stmt = pg_insert(t).values(case_id=case_id, **values)
        set_ = {
            k: func.coalesce(stmt.excluded[k], t.c[k])
            for k in values
            if k in ("returned_at", "decision")
        }
        await self.session.execute(
            stmt.on_conflict_do_update(index_elements=["case_id"], set_=set_)
        )

    async def merge_consultation(self, consultation_id: uuid.UUID, **values: Any) -> None:
        """Merge what is known of a consultation (opened and decided, in any order)."""
        t = orm.consultations
        stmt = pg_insert(t).values(consultation_id=consultation_id, **values)
        set_ = {k: func.coalesce(t.c[k], stmt.excluded[k]) for k in values if k != "complaint_id"}
        await self.session.execute(
            stmt.on_conflict_do_update(index_elements=["consultation_id"], set_=set_)
        )

    async def add_whistle(self, row: dict[str, Any]) -> None:
        """Remember a whistle (once)."""
        await self.session.execute(pg_insert(orm.whistles).values(**row).on_conflict_do_nothing())

    async def add_review(self, row: dict[str, Any]) -> None:
        """Store a completed review (once)."""
        await self.session.execute(pg_insert(orm.reviews).values(**row).on_conflict_do_nothing())

    # --- the clock ticker ------------------------------------------------------------------

    async def claim_due_clocks(self, now: datetime, limit: int) -> list[Any]:
        """Running clocks of live rounds due at ``now``, locked; other replicas skip them."""
        c, f = orm.clocks, orm.complaint_facts
        query = (
            select(c)
            .join(f, f.c.complaint_id == c.c.complaint_id)
            .where(
                c.c.next_fire_at <= now,
                c.c.stopped_at.is_(None),
                c.c.round == f.c.current_round,
                *_live(f),
            )
            .order_by(c.c.next_fire_at)
            .limit(limit)
            .with_for_update(of=c, skip_locked=True)
        )
        return list((await self.session.execute(query)).all())

    # --- read models -----------------------------------------------------------------------

    async def clocks_of(self, complaint_id: uuid.UUID) -> tuple[Any | None, list[Any]]:
        """The complaint's facts and all its clocks."""
        f, c = orm.complaint_facts, orm.clocks
        fact = (
            await self.session.execute(select(f).where(f.c.complaint_id == complaint_id))
        ).first()
        query = (
            select(c)
            .where(c.c.complaint_id == complaint_id)
            .order_by(c.c.round, c.c.unit_id, c.c.clock)
        )
        return fact, list((await self.session.execute(query)).all())

    async def overdue(
        self,
        *,
        now: datetime,
        unit_id: str | None,
        clock: str | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Any]:
        """Running clocks of live rounds past their deadline, most overdue first."""
        c, f = orm.clocks, orm.complaint_facts
        deadline = func.coalesce(c.c.extended_deadline, c.c.deadline).label("effective_deadline")
        query = (
            select(c, deadline, f.c.ticket_no)
            .join(f, f.c.complaint_id == c.c.complaint_id)
            .where(
                c.c.stopped_at.is_(None),
                c.c.round == f.c.current_round,
                func.coalesce(c.c.extended_deadline, c.c.deadline) < now,
                *_live(f),
            )
            .order_by(deadline, c.c.clock_id)
            .limit(limit + 1)
        )
        if unit_id is not None:
            query = query.where(c.c.unit_id == unit_id)
        if clock is not None:
            query = query.where(c.c.clock == clock)
        if after is not None:
            query = query.where(
                tuple_(func.coalesce(c.c.extended_deadline, c.c.deadline), c.c.clock_id)
                > tuple_(*after)
            )
        return list((await self.session.execute(query)).all())

    async def fetch(self, sql: str, params: dict[str, Any]) -> list[Any]:
        """Run a read-only report query."""
        return list((await self.session.execute(text(sql), params)).all())


def _live(f: Any) -> list[Any]:
    return [f.c.withdrawn_at.is_(None), f.c.merged_at.is_(None), f.c.closed_at.is_(None)]
