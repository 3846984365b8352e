"""metrics' data access: order-independent upserts of facts, clock claims, read models."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from jiesu_common.db.sql import (
    FastRepository,
    Row,
    columns_and_placeholders,
    json_args,
    set_clause,
    values_of,
)
from jiesu_common.notify_store import NotificationRows, claim_due_sql
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
    # Only ever given with a stop: a stopped clock is never looked at again.
    "next_fire_at": "EXCLUDED.next_fire_at",
}


_CLOCK_KEY = ("complaint_id", "round", "unit_id", "clock")
# A fact's timestamps keep their first value, its round the highest.
_FACT_MERGE = {"current_round": "GREATEST(complaint_facts.current_round, EXCLUDED.current_round)"}
# The clocks an assignment starts, all at once: (columns, types) of the unnest.
_START_COLUMNS = (
    ("clock_id", "uuid"),
    ("complaint_id", "uuid"),
    ("round", "int"),
    ("unit_id", "text"),
    ("clock", "text"),
    ("role", "text"),
    ("started_at", "timestamptz"),
    ("deadline", "timestamptz"),
    ("next_fire_at", "timestamptz"),
)


def _start_clocks_sql(start: int) -> str:
    """The clocks' upsert from arrays (parameters from ``$start``), each row returned with
    whether it was ``inserted``."""
    return (
        f"INSERT INTO clocks ({', '.join(c for c, _ in _START_COLUMNS)}) SELECT * FROM unnest("
        + ", ".join(f"${n}::{t}[]" for n, (_, t) in enumerate(_START_COLUMNS, start=start))
        + ") ON CONFLICT (complaint_id, round, unit_id, clock) DO UPDATE SET "
        + ", ".join(f"{k} = {_CLOCK_MERGE[k]}" for k in ("role", "started_at", "deadline"))
        + " RETURNING *, (xmax = 0) AS inserted"
    )


@functools.lru_cache(maxsize=64)
def _upsert(
    table: str, key: tuple[str, ...], columns: tuple[str, ...], merge: str, start: int = 1
) -> str:
    """INSERT … ON CONFLICT (key) DO UPDATE SET <merge> (or DO NOTHING without one)."""
    names, placeholders = columns_and_placeholders(columns, start)
    action = f"DO UPDATE SET {merge}" if merge else "DO NOTHING"
    return (
        f"INSERT INTO {table} ({names}) VALUES ({placeholders}) "
        f"ON CONFLICT ({', '.join(key)}) {action}"
    )


def _fact_merge(columns: tuple[str, ...]) -> str:
    """How a complaint's facts merge: first values stay, the round is the highest."""
    return ", ".join(
        f"{k} = {_FACT_MERGE.get(k, f'COALESCE(complaint_facts.{k}, EXCLUDED.{k})')}"
        for k in columns
    )


# A complaint's facts learn that a round exists, from a clock's parameters ($2: the
# complaint, $3: the round; ``merge_clock`` builds its row in that order).
_ROUND_SEEN = _upsert(
    "complaint_facts",
    ("complaint_id",),
    ("complaint_id", "current_round"),
    _fact_merge(("current_round",)),
    start=2,
)


@functools.lru_cache(maxsize=8)
def _start_round(fact: tuple[str, ...], round_row: tuple[str, ...]) -> str:
    """The fact upsert and the round's insert as CTEs of the clocks' upsert: three tables,
    one round trip (they touch different tables, so the shared snapshot changes nothing)."""
    merge = _fact_merge(tuple(k for k in fact if k != "complaint_id"))
    upsert_fact = _upsert("complaint_facts", ("complaint_id",), fact, merge)
    insert_round = _upsert("rounds", ("complaint_id", "round"), round_row, "", len(fact) + 1)
    clocks = _start_clocks_sql(len(fact) + len(round_row) + 1)
    return f"WITH facts AS ({upsert_fact}), new_round AS ({insert_round}) {clocks}"


class MetricsRepository(NotificationRows, FastRepository):
    """Reads and writes metrics' tables inside one session (hot paths on its connection)."""

    # Escalation messages to units' contacts: with the complaint's ticket.
    NOTIFICATIONS = orm.notifications
    CLAIM = claim_due_sql(
        "(SELECT f.ticket_no FROM complaint_facts f "
        "WHERE f.complaint_id = notifications.complaint_id) AS ticket_no"
    )

    # --- facts -------------------------------------------------------------------------

    async def complaint_fact(self, complaint_id: uuid.UUID, **values: Any) -> None:
        """Merge facts about a complaint; timestamps keep their first value, rounds their max."""
        row = {"complaint_id": complaint_id, **values}
        sql = _upsert("complaint_facts", ("complaint_id",), tuple(row), _fact_merge(tuple(values)))
        await (await self.conn()).execute(sql, *json_args(orm.complaint_facts, row))

    async def start_round(
        self, fact: dict[str, Any], round_row: dict[str, Any], clocks: list[dict[str, Any]]
    ) -> list[Any]:
        """An assignment in one statement: merge the complaint's facts, remember the round
        (once) and upsert the clocks it starts; returns each clock with whether it was
        ``inserted`` (else merged with what was known: schedule it again)."""
        sql = _start_round(tuple(fact), tuple(round_row))
        columns = [[row[c] for row in clocks] for c, _ in _START_COLUMNS]
        args = [*json_args(orm.complaint_facts, fact), *json_args(orm.rounds, round_row)]
        return [Row(r) for r in await (await self.conn()).fetch(sql, *args, *columns)]

    async def merge_clock(
        self,
        complaint_id: uuid.UUID,
        round_no: int,
        unit_id: str,
        clock: str,
        *,
        round_seen: bool = False,
        **values: Any,
    ) -> Any:
        """Upsert what is known of a clock; returns the merged row (locked by the upsert).

        ``round_seen``: the complaint's facts learn in the same statement that its round
        ``round_no`` exists (``complaint_fact(current_round=…)``).
        """
        row = {
            "clock_id": clock_id_for(complaint_id, round_no, unit_id, clock),
            "complaint_id": complaint_id,
            "round": round_no,
            "unit_id": unit_id,
            "clock": clock,
            **values,
        }
        merge = ", ".join(f"{k} = {_CLOCK_MERGE[k]}" for k in values)
        sql = _upsert("clocks", _CLOCK_KEY, tuple(row), merge) + " RETURNING *"
        if round_seen:
            sql = f"WITH f AS ({_ROUND_SEEN}) {sql}"
        return Row(await (await self.conn()).fetchrow(sql, *row.values()))

    async def set_clock(self, clock_id: uuid.UUID, **values: Any) -> None:
        """Update a clock's ladder state."""
        sql = f"UPDATE clocks SET {set_clause(tuple(values), 2)} WHERE clock_id = $1"
        await (await self.conn()).execute(sql, clock_id, *values.values())

    # --- the ladder's messages --------------------------------------------------------------

    async def add_notifications(self, rows: list[dict[str, Any]]) -> None:
        """Owe messages (once each: their ids are derived from clock, rung and recipient)."""
        if rows:
            await self.session.execute(
                pg_insert(orm.notifications).values(rows).on_conflict_do_nothing()
            )

    async def notifications(
        self, *, complaint_id: uuid.UUID | None, status: str | None, limit: int
    ) -> list[Any]:
        """Messages sent or owed, newest first."""
        t = orm.notifications
        query = select(t).order_by(t.c.created_at.desc(), t.c.notification_id).limit(limit)
        if complaint_id is not None:
            query = query.where(t.c.complaint_id == complaint_id)
        if status is not None:
            query = query.where(t.c.status == status)
        return list((await self.session.execute(query)).all())

    async def merge_return(self, case_id: uuid.UUID, **values: Any) -> None:
        """Merge what is known of a return (the return and its decision come on two topics)."""
        table = orm.returns.name
        merge = ", ".join(
            f"{k} = COALESCE(EXCLUDED.{k}, {table}.{k})"
            for k in values
            if k in ("returned_at", "decision")
        )
        row = {"case_id": case_id, **values}
        sql = _upsert(table, ("case_id",), tuple(row), merge or "case_id = EXCLUDED.case_id")
        await (await self.conn()).execute(sql, *json_args(orm.returns, row))

    async def merge_consultation(self, consultation_id: uuid.UUID, **values: Any) -> None:
        """Merge what is known of a consultation (opened and decided, in any order)."""
        table = orm.consultations.name
        merge = ", ".join(
            f"{k} = COALESCE({table}.{k}, EXCLUDED.{k})" for k in values if k != "complaint_id"
        )
        row = {"consultation_id": consultation_id, **values}
        sql = _upsert(table, ("consultation_id",), tuple(row), merge)
        await (await self.conn()).execute(sql, *json_args(orm.consultations, row))

    async def unmerge_fact(self, complaint_id: uuid.UUID) -> None:
        """A complaint no longer merged."""
        t = orm.complaint_facts
        await self.session.execute(
            update(t).where(t.c.complaint_id == complaint_id).values(merged_at=None, master_id=None)
        )

    async def unit_clocks(self, complaint_id: uuid.UUID, round_no: int, unit_id: str) -> list[Any]:
        """A unit's clocks of one round, locked (a pause applies to all of them)."""
        c = orm.clocks
        query = (
            select(c)
            .where(c.c.complaint_id == complaint_id, c.c.round == round_no, c.c.unit_id == unit_id)
            .with_for_update()
        )
        return list((await self.session.execute(query)).all())

    async def add_pause(self, row: dict[str, Any]) -> None:
        """Remember a granted pause (once)."""
        await self._insert_once(orm.pauses, row)

    async def end_pause(self, pause_id: uuid.UUID, ended_at: datetime) -> None:
        """A pause ended by action."""
        t = orm.pauses
        await self.session.execute(
            update(t).where(t.c.pause_id == pause_id).values(ended_at=ended_at)
        )

    async def add_whistle(self, row: dict[str, Any]) -> None:
        """Remember a whistle (once)."""
        await self._insert_once(orm.whistles, row)

    async def add_review(self, row: dict[str, Any]) -> None:
        """Store a completed review (once)."""
        await self._insert_once(orm.reviews, row)

    async def _insert_once(self, table: Table, row: dict[str, Any]) -> None:
        columns, placeholders, args = values_of(table, row)
        sql = f"INSERT INTO {table.name} ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING"
        await (await self.conn()).execute(sql, *args)

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
        deadline = _effective_deadline(c).label("effective_deadline")
        query = (
            select(c, deadline, f.c.ticket_no)
            .join(f, f.c.complaint_id == c.c.complaint_id)
            .where(
                c.c.stopped_at.is_(None),
                c.c.round == f.c.current_round,
                # Unshifted first: a pause only moves a deadline later.
                func.coalesce(c.c.extended_deadline, c.c.deadline) < now,
                c.c.paused_at.is_(None),
                _effective_deadline(c) < now,
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
            query = query.where(tuple_(_effective_deadline(c), c.c.clock_id) > tuple_(*after))
        return list((await self.session.execute(query)).all())

    async def fetch(self, sql: str, params: dict[str, Any]) -> list[Any]:
        """Run a read-only report query."""
        return list((await self.session.execute(text(sql), params)).all())


def _effective_deadline(c: Any) -> Any:
    """The deadline moved by an extension and by the pauses already over."""
    return func.coalesce(c.c.extended_deadline, c.c.deadline) + func.make_interval(
        0, 0, 0, 0, 0, 0, c.c.paused_s
    )


def _live(f: Any) -> list[Any]:
    return [f.c.withdrawn_at.is_(None), f.c.merged_at.is_(None), f.c.closed_at.is_(None)]
