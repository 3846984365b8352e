"""Intake's data access: complaints, timeline, counters, idempotency, API keys."""

from __future__ import annotations

import functools
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from jiesu_common.contracts.events import ComplaintStatus
from jiesu_common.db.sql import FastRepository, Row, row_or_none, to_json, values_of
from jiesu_common.http import next_cursor, parse_cursor
from jiesu_common.messaging.tables import OutboxRows, outbox_rows_cte
from jiesu_common.notify_store import NotificationRows, claim_due_sql
from jiesu_intake import orm
from jiesu_intake.domain import CLOSED_FOR_DUPLICATES, DuplicateCandidate

# A merged complaint still links later repeats to its master, so it stays a candidate.
OPEN_EXCLUDED = CLOSED_FOR_DUPLICATES - {ComplaintStatus.merged}

# Statuses a complaint is no duplicate candidate in, as the hot query's parameter.
_NOT_CANDIDATE = [s.value for s in OPEN_EXCLUDED]
# Recent open complaints by the same caller, or of the same category in a box around a point
# (NULL parameters switch a link off). Each arm carries the time bound, so both are index
# scans (caller, time) and (category, time) whatever the parameters of a generic plan.
_DUPLICATE_CANDIDATES = (
    "SELECT id, ticket_no, duplicate_of, title, content, caller_phone_hash, category_code, "
    "lat, lon, created_at FROM complaints "
    "WHERE ((caller_phone_hash = $2 AND created_at >= $1) "
    "OR (category_code = $3 AND created_at >= $1 AND lat BETWEEN $4 AND $5 "
    "AND lon BETWEEN $6 AND $7)) AND status <> ALL($8::text[]) ORDER BY created_at LIMIT 200"
)


@functools.lru_cache(maxsize=64)
def _insert_with_first_event(columns: str, placeholders: str, n: int) -> str:
    # The complaint (numbered by its day's sequence) and its first timeline entry, one trip.
    return (
        f"WITH c AS (INSERT INTO complaints ({columns}, ticket_no) VALUES ({placeholders}, "
        f"next_ticket_no(${n + 1})) RETURNING id, ticket_no, created_at), "
        "t AS (INSERT INTO complaint_timeline (complaint_id, event_id, event_type, at, round, "
        f"detail) SELECT id, ${n + 2}, ${n + 3}, created_at, NULL, ${n + 4} FROM c) "
        "SELECT ticket_no FROM c"
    )


@functools.lru_cache(maxsize=64)
def _insert_numbered_with_answer(columns: str, placeholders: str, n: int) -> str:
    # A complaint whose number came with its idempotency claim: the complaint, its first
    # timeline entry, its events and the answer kept under the key, one trip.
    return (
        f"WITH c AS (INSERT INTO complaints ({columns}) VALUES ({placeholders}) "
        "RETURNING id, created_at), "
        "t AS (INSERT INTO complaint_timeline (complaint_id, event_id, event_type, at, round, "
        f"detail) SELECT id, ${n + 1}, ${n + 2}, created_at, NULL, ${n + 3} FROM c), "
        f"{outbox_rows_cte(n + 7)} "
        f"UPDATE idempotency_keys SET complaint_id = c.id, response = ${n + 6} FROM c "
        f"WHERE scope = ${n + 4} AND key = ${n + 5}"
    )


# The key claimed and, only when this request is its first, a ticket number drawn and the
# duplicate candidates read (no row: the key was taken before; one row of NULL candidate
# columns: no candidates).
_CLAIM_WITH_TICKET = (
    "WITH k AS (INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) "
    "ON CONFLICT DO NOTHING RETURNING key), n AS (SELECT next_ticket_no($4) AS ticket FROM k) "
    "SELECT n.ticket, d.* FROM n LEFT JOIN LATERAL ("
    + re.sub(r"\$(\d+)", lambda m: f"${int(m[1]) + 4}", _DUPLICATE_CANDIDATES)
    + ") AS d ON true"
)


# A complaint as it is: status reads and the merge paths (fixed text on the unit of work's
# connection, prepared once per connection).
_GET = f"SELECT * FROM {orm.complaints.name} WHERE id = $1"
# Asked at every close: most complaints have none merged into them.
_DUPLICATES_OF = (
    f"SELECT * FROM {orm.complaints.name} WHERE duplicate_of = $1 AND status = $2 "
    "ORDER BY created_at, id"
)
_LOCK_STATUS = "SELECT id, status, status_round FROM complaints WHERE id = $1 FOR UPDATE"
_TIMELINE = (
    "INSERT INTO complaint_timeline (complaint_id, event_id, event_type, at, round, detail) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING RETURNING id"
)


@functools.lru_cache(maxsize=64)
def _timeline_and_status(columns: tuple[str, ...]) -> str:
    sets = ", ".join(f"{c} = ${n}" for n, c in enumerate(columns, start=7))
    return (
        f"WITH t AS ({_TIMELINE}) "
        f"UPDATE complaints SET {sets} WHERE id = $1 AND EXISTS (SELECT 1 FROM t) "
        "RETURNING status, status_round"
    )


class StatusRow(NamedTuple):
    """What the status view needs of a complaint."""

    id: uuid.UUID
    status: str
    status_round: int


class ComplaintRepository(NotificationRows, FastRepository):
    """Reads and writes intake's tables inside one session (hot paths on its connection).

    ``lock_status`` remembers what it locked until the unit of work ends its transaction
    (``release_locks``): several events of one complaint in one poll lock it once.
    """

    def __init__(
        self,
        session: AsyncSession,
        connection: Callable[[], Awaitable[asyncpg.Connection]] | None = None,
    ) -> None:
        super().__init__(session, connection)
        # Status rows locked by this transaction, as its own writes left them.
        self._held: dict[uuid.UUID, StatusRow] = {}

    def release_locks(self) -> None:
        """The transaction ended: what it held may change from now on."""
        self._held.clear()

    # Messages to residents: with the complaint's encrypted number (read at sending).
    NOTIFICATIONS = orm.notifications
    CLAIM = claim_due_sql(
        "(SELECT c.caller_phone_enc FROM complaints c WHERE c.id = notifications.complaint_id) "
        "AS phone_enc, (SELECT c.anonymous FROM complaints c "
        "WHERE c.id = notifications.complaint_id) AS anonymous"
    )

    async def add_with_first_event(
        self,
        row: dict[str, Any],
        *,
        day: date,
        event_id: uuid.UUID,
        event_type: str,
        detail: dict[str, Any],
    ) -> str:
        """Insert a complaint numbered by its day's sequence, with its first timeline entry;
        returns the ticket number (``YYYYMMDD`` + six digits, increasing within the day)."""
        columns, placeholders, args = values_of(orm.complaints, row)
        sql = _insert_with_first_event(columns, placeholders, len(args))
        conn = await self.conn()
        return str(await conn.fetchval(sql, *args, day, event_id, event_type, to_json(detail)))

    async def add_numbered_with_answer(
        self,
        row: dict[str, Any],
        *,
        event_id: uuid.UUID,
        event_type: str,
        detail: dict[str, Any],
        scope: str,
        key: str,
        answer: dict[str, Any],
        outbox: OutboxRows,
    ) -> None:
        """Insert a complaint already numbered (``row["ticket_no"]``) with its first timeline
        entry and its events (``outbox``: the unit of work's ``take_outbox_rows``), and keep
        ``answer`` under its idempotency key, in one statement."""
        columns, placeholders, args = values_of(orm.complaints, row)
        sql = _insert_numbered_with_answer(columns, placeholders, len(args))
        conn = await self.conn()
        await conn.execute(
            sql, *args, event_id, event_type, to_json(detail), scope, key, to_json(answer), *outbox
        )

    async def get(self, complaint_id: uuid.UUID, *, for_update: bool = False) -> Any | None:
        """One complaint row, or None."""
        sql = _GET + " FOR UPDATE" if for_update else _GET
        return row_or_none(await (await self.conn()).fetchrow(sql, complaint_id))

    async def lock_status(self, complaint_id: uuid.UUID) -> StatusRow | None:
        """A complaint's id, status and round, locked to the end of the transaction."""
        held = self._held.get(complaint_id)
        if held is not None:
            return held
        row = await (await self.conn()).fetchrow(_LOCK_STATUS, complaint_id)
        if row is None:
            return None
        self._held[complaint_id] = held = StatusRow(*row)
        return held

    async def record_lifecycle(
        self,
        *,
        complaint_id: uuid.UUID,
        event_id: uuid.UUID,
        event_type: str,
        at: datetime,
        round_no: int | None,
        detail: dict[str, Any],
        values: dict[str, Any],
    ) -> None:
        """Note an event on the timeline and, only when that entry is new, set ``values``."""
        conn = await self.conn()
        args = [complaint_id, event_id, event_type, at, round_no, to_json(detail)]
        if not values:
            await conn.execute(_TIMELINE, *args)
            return
        sql = _timeline_and_status(tuple(values))
        changed = await conn.fetchrow(sql, *args, *values.values())
        if changed is not None and complaint_id in self._held:  # None: a repeat, no change
            self._held[complaint_id] = StatusRow(complaint_id, *changed)

    async def set_status(self, complaint_id: uuid.UUID, values: dict[str, Any]) -> None:
        """Update the projected status fields."""
        self._held.pop(complaint_id, None)
        await self.session.execute(
            update(orm.complaints).where(orm.complaints.c.id == complaint_id).values(**values)
        )

    async def add_timeline(
        self,
        *,
        complaint_id: uuid.UUID,
        event_id: uuid.UUID,
        event_type: str,
        at: datetime,
        round_no: int | None,
        detail: dict[str, Any],
    ) -> bool:
        """Record an event on the timeline once; False when it was already there."""
        result = await self.session.execute(
            pg_insert(orm.timeline)
            .values(
                complaint_id=complaint_id,
                event_id=event_id,
                event_type=event_type,
                at=at,
                round=round_no,
                detail=detail,
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(orm.timeline.c.id)
        )
        return result.first() is not None

    async def duplicates_of(self, master_id: uuid.UUID, *, for_update: bool = False) -> list[Any]:
        """The complaints merged into ``master_id`` (still merged), oldest first."""
        sql = _DUPLICATES_OF + " FOR UPDATE" if for_update else _DUPLICATES_OF
        records = await (await self.conn()).fetch(sql, master_id, ComplaintStatus.merged.value)
        return [Row(r) for r in records]

    async def has_duplicates(self, master_id: uuid.UUID) -> bool:
        """Whether any complaint is merged into ``master_id``."""
        t = orm.complaints
        query = select(t.c.id).where(t.c.duplicate_of == master_id).limit(1)
        return (await self.session.execute(query)).first() is not None

    async def owe_notifications(self, rows: list[dict[str, Any]]) -> None:
        """Owe messages (once each: their ids are derived from what they tell of)."""
        if rows:
            await self.session.execute(
                pg_insert(orm.notifications).values(rows).on_conflict_do_nothing()
            )

    async def timeline_of(self, complaint_id: uuid.UUID) -> list[Any]:
        """The timeline, oldest first."""
        query = (
            select(orm.timeline)
            .where(orm.timeline.c.complaint_id == complaint_id)
            .order_by(orm.timeline.c.at, orm.timeline.c.id)
        )
        return list((await self.session.execute(query)).all())

    async def duplicate_candidates(self, query: list[Any] | None) -> list[DuplicateCandidate]:
        """Recent open complaints by the same caller, or of the same category nearby
        (``query``: from ``candidate_query``)."""
        if query is None:
            return []
        rows = await (await self.conn()).fetch(_DUPLICATE_CANDIDATES, *query)
        return [_candidate(r) for r in rows]

    async def list(
        self, *, filters: dict[str, Any], cursor: str | None, limit: int, app_id: str | None
    ) -> tuple[list[Any], str | None]:
        """Newest first, keyset-paginated; ``app_id`` limits an app to its own complaints."""
        c = orm.complaints.c
        query = select(orm.complaints)
        for name, value in filters.items():
            if value is None:
                continue
            if name == "created_from":
                query = query.where(c.created_at >= value)
            elif name == "created_to":
                query = query.where(c.created_at < value)
            else:
                query = query.where(getattr(c, name) == value)
        if app_id is not None:
            query = query.where(c.app_id == app_id)
        if cursor:
            at, cid = parse_cursor(cursor)
            query = query.where(or_(c.created_at < at, and_(c.created_at == at, c.id < cid)))
        rows = list(
            (
                await self.session.execute(
                    query.order_by(c.created_at.desc(), c.id.desc()).limit(limit + 1)
                )
            ).all()
        )
        return rows[:limit], next_cursor(rows, limit, "created_at", "id")


def candidate_query(
    *,
    since: datetime,
    phone_hash: str | None,
    category_code: str | None,
    lat: float | None,
    lon: float | None,
    radius_m: float,
) -> list[Any] | None:
    """The duplicate candidates' query parameters: the same caller since ``since``, or the
    same category in a box around the point; None when neither can match."""
    box: list[float | None] = [None] * 4
    near = bool(category_code) and lat is not None and lon is not None
    if near:
        assert lat is not None and lon is not None
        dlat = radius_m / 111_000 * 1.5
        dlon = dlat / max(0.2, abs(math.cos(math.radians(lat))))
        box = [lat - dlat, lat + dlat, lon - dlon, lon + dlon]
    if not phone_hash and not near:
        return None
    return [since, phone_hash or None, category_code if near else None, *box, _NOT_CANDIDATE]


# No candidate can match these (every link switched off).
_NO_CANDIDATES: list[Any] = [None] * 7 + [_NOT_CANDIDATE]


def _candidate(r: Any) -> DuplicateCandidate:
    return DuplicateCandidate(
        complaint_id=r["id"],
        ticket_no=r["ticket_no"],
        master_id=r["duplicate_of"],
        text=(r["title"] or "") + r["content"],
        phone_hash=r["caller_phone_hash"],
        category_code=r["category_code"],
        lat=r["lat"],
        lon=r["lon"],
        created_at=r["created_at"],
    )


class IdempotencyRepository(FastRepository):
    """Stored answers of requests carrying an ``Idempotency-Key``."""

    async def claim(self, scope: str, key: str, request_hash: str) -> bool:
        """True when this request is the first with the key (waits for a concurrent one)."""
        claimed = await (await self.conn()).fetchval(
            "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING key",
            scope,
            key,
            request_hash,
        )
        return claimed is not None

    async def claim_with_ticket(
        self, scope: str, key: str, request_hash: str, *, day: date, candidates: list[Any] | None
    ) -> tuple[str | None, list[DuplicateCandidate]]:
        """Like ``claim``, and the first request also draws its day's next ticket number and
        reads its duplicate candidates (``candidates``: from ``candidate_query``), in one
        trip; (None, []) when the key was taken before."""
        rows = await (await self.conn()).fetch(
            _CLAIM_WITH_TICKET, scope, key, request_hash, day, *(candidates or _NO_CANDIDATES)
        )
        if not rows:
            return None, []
        return str(rows[0]["ticket"]), [_candidate(r) for r in rows if r["id"] is not None]

    async def get(self, scope: str, key: str) -> Any | None:
        """The stored record of a key."""
        t = orm.idempotency_keys
        return (
            await self.session.execute(select(t).where(t.c.scope == scope, t.c.key == key))
        ).first()

    async def store(
        self, scope: str, key: str, complaint_id: uuid.UUID, response: dict[str, Any]
    ) -> None:
        """Remember the answer given."""
        await (await self.conn()).execute(
            "UPDATE idempotency_keys SET complaint_id = $3, response = $4 "
            "WHERE scope = $1 AND key = $2",
            scope,
            key,
            complaint_id,
            to_json(response),
        )


class ApiKeyRepository:
    """Third-party apps' keys (hashes only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: dict[str, Any]) -> None:
        """Store a new key's hash and settings."""
        await self.session.execute(insert(orm.api_keys).values(**row))

    async def get(self, key_id: uuid.UUID, *, for_update: bool = False) -> Any | None:
        """One key by id."""
        query = select(orm.api_keys).where(orm.api_keys.c.id == key_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def by_hash(self, key_hash: str) -> Any | None:
        """The key with this hash, row-locked: its rate-limit state changes on every use."""
        t = orm.api_keys
        query = select(t).where(t.c.key_hash == key_hash).with_for_update()
        return (await self.session.execute(query)).first()

    async def list(self, *, app_id: str | None) -> list[Any]:
        """Keys, newest first, optionally of one app."""
        t = orm.api_keys
        query = select(t).order_by(t.c.created_at.desc(), t.c.id)
        if app_id is not None:
            query = query.where(t.c.app_id == app_id)
        return list((await self.session.execute(query)).all())

    async def update(self, key_id: uuid.UUID, values: dict[str, Any]) -> None:
        """Change a key's state (rate-limit clock, last use, revocation)."""
        t = orm.api_keys
        await self.session.execute(update(t).where(t.c.id == key_id).values(**values))
