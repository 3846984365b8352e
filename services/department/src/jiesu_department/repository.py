"""department-response's data access."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, insert, literal_column, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from jiesu_common.db.sql import (
    FastRepository,
    Row,
    json_args,
    row_or_none,
    set_clause,
    to_json,
    values_of,
)
from jiesu_common.messaging.tables import OutboxRows, outbox_rows_cte
from jiesu_department import orm
from jiesu_department.webhooks import rules

CHANGES_CHANNEL = "case_changed"
_XID: ColumnElement[int] = literal_column(orm.XACT_ID)


# Whether the unit has an active webhook subscription, read by the statement that changes
# its case: a transaction whose units have none skips the subscription query at commit.
_HOOKED = (
    "EXISTS (SELECT 1 FROM webhook_subscriptions s "
    "WHERE s.status = 'active' AND s.unit_id = {unit})"
)
_LOG = "INSERT INTO case_actions (case_id, action, by, at, detail) VALUES ($1, $2, $3, $4, $5)"
_GET = "SELECT * FROM cases WHERE case_id = $1"
_OF_COMPLAINT = "SELECT * FROM cases WHERE complaint_id = $1 ORDER BY round, unit_id FOR UPDATE"


@functools.lru_cache(maxsize=32)
def _open_logged(columns: str, placeholders: str, n: int) -> str:
    # The case (stamped with this transaction's id for the streams) and its first history
    # entry, once: a case that exists already is left as it is and nothing is logged.
    return (
        f"WITH c AS (INSERT INTO cases ({columns}, xid) VALUES ({placeholders}, {orm.XACT_ID}) "
        "ON CONFLICT DO NOTHING RETURNING case_id), "
        "l AS (INSERT INTO case_actions (case_id, action, by, at, detail) "
        f"SELECT case_id, ${n + 1}, ${n + 2}, ${n + 3}, ${n + 4} FROM c RETURNING case_id) "
        f"SELECT case_id, {_HOOKED.format(unit=f'${n + 5}')} FROM l"
    )


@functools.lru_cache(maxsize=64)
def _change(columns: tuple[str, ...], logged: bool, with_outbox: bool = False) -> str:
    # The case (stamped for the streams), with ``logged`` its history entry and with
    # ``with_outbox`` the events queued so far, in one round trip.
    n = len(columns)
    sets = f"{set_clause(columns, 2)}, " if columns else ""
    update = (
        f"UPDATE cases SET {sets}xid = {orm.XACT_ID}, updated_at = now() "
        f"WHERE case_id = $1 RETURNING *, {_HOOKED.format(unit='cases.unit_id')} AS hooked"
    )
    events = outbox_rows_cte(n + (6 if logged else 2)) if with_outbox else None
    if not logged:
        return f"WITH {events} {update}" if events else update
    return (
        f"WITH c AS ({update}), l AS (INSERT INTO case_actions (case_id, action, by, at, detail) "
        f"SELECT case_id, ${n + 2}, ${n + 3}, ${n + 4}, ${n + 5} FROM c)"
        f"{', ' + events if events else ''} SELECT * FROM c"
    )


class CaseRepository(FastRepository):
    """Reads and writes cases inside one session; every write wakes the unit's streams."""

    def __init__(
        self,
        session: AsyncSession,
        connection: Callable[[], Awaitable[asyncpg.Connection]] | None = None,
    ) -> None:
        super().__init__(session, connection)
        self._touched_units: set[str] = set()
        # (case, action or None) of every write, in order: what webhooks announce.
        self._changes: list[tuple[uuid.UUID, str | None]] = []
        # Whether a changed case's unit may have a webhook subscription: True once a write
        # found one or could not tell (a bare history entry), so commit looks them up.
        self._maybe_hooked = False

    async def open_case(
        self,
        row: dict[str, Any],
        *,
        by: str | None,
        at: datetime,
        detail: dict[str, Any],
        action: str = "assigned",
    ) -> bool:
        """Insert a case once, with its first history entry; False when it existed."""
        columns, placeholders, args = values_of(orm.cases, row)
        sql = _open_logged(columns, placeholders, len(args))
        opened = await (await self.conn()).fetchrow(
            sql, *args, action, by, at, to_json(detail), row["unit_id"]
        )
        if opened is None:
            return False
        self._maybe_hooked = self._maybe_hooked or opened[1]
        self._touched_units.add(row["unit_id"])
        self._changes.append((row["case_id"], action))
        return True

    async def get(self, case_id: uuid.UUID, *, for_update: bool = False) -> Any | None:
        """One case, optionally row-locked."""
        sql = _GET + " FOR UPDATE" if for_update else _GET
        return row_or_none(await (await self.conn()).fetchrow(sql, case_id))

    async def of_complaint(
        self, complaint_id: uuid.UUID, *, round_no: int | None = None
    ) -> list[Any]:
        """Every case of a complaint (of one round), locked for update."""
        rows = [Row(r) for r in await (await self.conn()).fetch(_OF_COMPLAINT, complaint_id)]
        return rows if round_no is None else [r for r in rows if r.round == round_no]

    async def change(
        self,
        case_id: uuid.UUID,
        unit_id: str,
        *,
        log: tuple[str, str | None, datetime, dict[str, Any]] | None = None,
        outbox: OutboxRows | None = None,
        **values: Any,
    ) -> Any:
        """Update a case, stamp it as changed in this transaction and, with ``log``
        ``(action, by, at, detail)``, append to its history; returns the case as it is now.
        ``outbox`` (the unit of work's ``take_outbox_rows``): events written by the same
        statement."""
        args = [case_id, *json_args(orm.cases, values)]
        if log is not None:
            action, by, at, detail = log
            args += [action, by, at, to_json(detail)]
        sql = _change(tuple(values), log is not None, outbox is not None)
        row = await (await self.conn()).fetchrow(sql, *args, *(outbox or ()))
        self._maybe_hooked = self._maybe_hooked or row is None or row["hooked"]
        self._touched_units.add(unit_id)
        self._changes.append((case_id, None if log is None else log[0]))
        return row_or_none(row)

    async def log_action(
        self, case_id: uuid.UUID, action: str, by: str | None, at: datetime, detail: dict[str, Any]
    ) -> None:
        """Append to the case's history."""
        await (await self.conn()).execute(_LOG, case_id, action, by, at, to_json(detail))
        self._changes.append((case_id, action))
        self._maybe_hooked = True  # the case's unit is not known here

    async def history(self, case_id: uuid.UUID) -> list[Any]:
        """The case's actions, oldest first."""
        t = orm.case_actions
        query = select(t).where(t.c.case_id == case_id).order_by(t.c.id)
        return list((await self.session.execute(query)).all())

    async def page(
        self,
        *,
        unit_id: str,
        statuses: list[str] | None,
        complaint_id: uuid.UUID | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Any]:
        """A unit's cases, oldest assignment first, keyset-paginated."""
        c = orm.cases.c
        query = select(orm.cases).where(c.unit_id == unit_id)
        if statuses:
            query = query.where(c.status.in_(statuses))
        if complaint_id is not None:
            query = query.where(c.complaint_id == complaint_id)
        if after is not None:
            query = query.where(tuple_(c.assigned_at, c.case_id) > tuple_(*after))
        query = query.order_by(c.assigned_at, c.case_id).limit(limit + 1)
        return list((await self.session.execute(query)).all())

    async def snapshot_bounds(self) -> tuple[int, int]:
        """The safe horizon (oldest running transaction) and the next transaction id."""
        row = (
            await self.session.execute(
                text(
                    "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint "
                    "FROM pg_current_snapshot() AS s"
                )
            )
        ).one()
        return int(row[0]), int(row[1])

    # --- reply templates (答复模板) ----------------------------------------------------------

    async def templates(self, *, unit_id: str, category_code: str | None) -> list[Any]:
        """A unit's templates (of one category, and those for every category), by title."""
        t = orm.reply_templates
        query = select(t).where(t.c.unit_id == unit_id)
        if category_code is not None:
            query = query.where((t.c.category_code == category_code) | t.c.category_code.is_(None))
        query = query.order_by(t.c.category_code.nulls_last(), t.c.title, t.c.template_id)
        return list((await self.session.execute(query)).all())

    async def template(self, template_id: uuid.UUID) -> Any | None:
        """One template."""
        t = orm.reply_templates
        return (await self.session.execute(select(t).where(t.c.template_id == template_id))).first()

    async def save_template(self, row: dict[str, Any]) -> Any:
        """Insert or replace a template; returns it."""
        t = orm.reply_templates
        query = (
            pg_insert(t)
            .values(**row)
            .on_conflict_do_update(
                index_elements=[t.c.template_id],
                set_={k: v for k, v in row.items() if k not in ("template_id", "unit_id")},
            )
            .returning(t)
        )
        return (await self.session.execute(query)).one()

    async def delete_template(self, template_id: uuid.UUID) -> None:
        """Remove a template."""
        t = orm.reply_templates
        await self.session.execute(t.delete().where(t.c.template_id == template_id))

    async def add_reveal(self, row: dict[str, Any]) -> None:
        """Record who saw a resident's phone number."""
        await self.session.execute(insert(orm.caller_reveals).values(**row))

    async def reveals(self, case_id: uuid.UUID) -> list[Any]:
        """The reveal audit of a case."""
        t = orm.caller_reveals
        query = select(t).where(t.c.case_id == case_id).order_by(t.c.revealed_at)
        return list((await self.session.execute(query)).all())

    # --- consultations (会商) a unit is invited to ------------------------------------------

    async def add_consultation(self, row: dict[str, Any]) -> bool:
        """Project a consultation for one participant unit, once."""
        t = orm.consultations
        result = await self.session.execute(
            pg_insert(t)
            .values(**row, xid=_XID)
            .on_conflict_do_nothing()
            .returning(t.c.consultation_id)
        )
        if result.first() is None:
            return False
        self._touched_units.add(row["unit_id"])
        return True

    async def close_consultations(
        self,
        *,
        consultation_id: uuid.UUID | None = None,
        complaint_id: uuid.UUID | None = None,
        **values: Any,
    ) -> None:
        """End a consultation (or a complaint's open ones) for every participant."""
        t = orm.consultations
        query = update(t).where(t.c.status == "open")
        if consultation_id is not None:
            query = query.where(t.c.consultation_id == consultation_id)
        if complaint_id is not None:
            query = query.where(t.c.complaint_id == complaint_id)
        result = await self.session.execute(
            query.values(**values, xid=_XID, updated_at=datetime.now().astimezone()).returning(
                t.c.unit_id
            )
        )
        self._touched_units.update(result.scalars())

    async def consultations_page(
        self,
        *,
        unit_id: str,
        statuses: list[str] | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Any]:
        """A unit's consultations, oldest first, keyset-paginated."""
        c = orm.consultations.c
        query = select(orm.consultations).where(c.unit_id == unit_id)
        if statuses:
            query = query.where(c.status.in_(statuses))
        if after is not None:
            query = query.where(tuple_(c.opened_at, c.consultation_id) > tuple_(*after))
        query = query.order_by(c.opened_at, c.consultation_id).limit(limit + 1)
        return list((await self.session.execute(query)).all())

    def take_changes(self) -> list[tuple[uuid.UUID, str]]:
        """Each changed case with the webhook event types of what happened to it, in order
        (and forget them): a change logged under no action is ``case.updated``."""
        actions: dict[uuid.UUID, list[str | None]] = {}
        for case_id, action in self._changes:
            actions.setdefault(case_id, []).append(action)
        self._changes.clear()
        changes = []
        for case_id, done in actions.items():
            named: list[str | None] = [a for a in done if a is not None] or [None]
            for event_type in dict.fromkeys(rules.event_type_of(a) for a in named):
                changes.append((case_id, event_type))
        return changes

    def take_maybe_hooked(self) -> bool:
        """Whether the changes may concern a unit with a webhook subscription (and reset)."""
        maybe, self._maybe_hooked = self._maybe_hooked, False
        return maybe

    def take_touched(self) -> list[str]:
        """The units whose cases this unit of work changed (and forget them)."""
        touched = sorted(self._touched_units)
        self._touched_units.clear()
        return touched

    async def notify(self, units: list[str]) -> None:
        """Wake the streams of ``units`` in every replica, in a transaction of its own.

        Sent after the change committed, not inside its transaction: a NOTIFY holds
        PostgreSQL's cluster-wide notify lock through its commit, so it must not wait for a
        flush there. A lost notification only delays a stream until its next poll.
        """
        await self.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        await self.session.execute(
            text("SELECT pg_notify(:channel, u) FROM unnest(CAST(:units AS text[])) AS u"),
            {"channel": CHANGES_CHANNEL, "units": units},
        )
        await self.session.commit()
