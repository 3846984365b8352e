"""Intake's data access: complaints, timeline, counters, idempotency, API keys."""

from __future__ import annotations

import math
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from jiesu_common.contracts.events import ComplaintStatus
from jiesu_common.http import encode_cursor, parse_cursor
from jiesu_intake import orm
from jiesu_intake.domain import CLOSED_FOR_DUPLICATES, DuplicateCandidate

# A merged complaint still links later repeats to its master, so it stays a candidate.
OPEN_EXCLUDED = CLOSED_FOR_DUPLICATES - {ComplaintStatus.merged}

_NEXT_TICKET = text(
    "INSERT INTO ticket_counters (day, last) VALUES (:day, 1) "
    "ON CONFLICT (day) DO UPDATE SET last = ticket_counters.last + 1 RETURNING last"
)


class ComplaintRepository:
    """Reads and writes intake's tables inside one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def next_ticket_sequence(self, day: date) -> int:
        """The next number of the day, committed at once in a transaction of its own.

        Unique and increasing within the day; a number whose filing then fails is skipped.
        The increment commits without waiting for its flush: a complaint that commits
        later flushes the log up to its own commit, which includes this increment, so a
        crash can never hand out a number that a stored complaint already carries.
        """
        await self.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        sequence = int((await self.session.execute(_NEXT_TICKET, {"day": day})).scalar_one())
        await self.session.commit()
        return sequence

    async def add(self, row: dict[str, Any]) -> None:
        """Insert a complaint."""
        await self.session.execute(insert(orm.complaints).values(**row))

    async def get(self, complaint_id: uuid.UUID, *, for_update: bool = False) -> Any | None:
        """One complaint row, or None."""
        query = select(orm.complaints).where(orm.complaints.c.id == complaint_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def set_status(self, complaint_id: uuid.UUID, values: dict[str, Any]) -> None:
        """Update the projected status fields."""
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

    async def timeline_of(self, complaint_id: uuid.UUID) -> list[Any]:
        """The timeline, oldest first."""
        query = (
            select(orm.timeline)
            .where(orm.timeline.c.complaint_id == complaint_id)
            .order_by(orm.timeline.c.at, orm.timeline.c.id)
        )
        return list((await self.session.execute(query)).all())

    async def duplicate_candidates(
        self,
        *,
        since: datetime,
        phone_hash: str | None,
        category_code: str | None,
        lat: float | None,
        lon: float | None,
        radius_m: float,
    ) -> list[DuplicateCandidate]:
        """Recent open complaints by the same caller, or of the same category nearby."""
        c = orm.complaints.c
        links = []
        if phone_hash:
            links.append(c.caller_phone_hash == phone_hash)
        if category_code and lat is not None and lon is not None:
            dlat = radius_m / 111_000 * 1.5
            dlon = dlat / max(0.2, abs(math.cos(math.radians(lat))))
            links.append(
                and_(
                    c.category_code == category_code,
                    c.lat.between(lat - dlat, lat + dlat),
                    c.lon.between(lon - dlon, lon + dlon),
                )
            )
        if not links:
            return []
        query = (
            select(
                c.id,
                c.ticket_no,
                c.duplicate_of,
                c.title,
                c.content,
                c.caller_phone_hash,
                c.category_code,
                c.lat,
                c.lon,
                c.created_at,
            )
            .where(c.created_at >= since, or_(*links))
            .where(c.status.not_in([s.value for s in OPEN_EXCLUDED]))
            .order_by(c.created_at)
            .limit(200)
        )
        return [
            DuplicateCandidate(
                complaint_id=r.id,
                ticket_no=r.ticket_no,
                master_id=r.duplicate_of,
                text=(r.title or "") + r.content,
                phone_hash=r.caller_phone_hash,
                category_code=r.category_code,
                lat=r.lat,
                lon=r.lon,
                created_at=r.created_at,
            )
            for r in (await self.session.execute(query)).all()
        ]

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
        last = rows[limit - 1] if len(rows) > limit else None
        next_cursor = encode_cursor(last.created_at, last.id) if last is not None else None
        return rows[:limit], next_cursor


class IdempotencyRepository:
    """Stored answers of requests carrying an ``Idempotency-Key``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, scope: str, key: str, request_hash: str) -> bool:
        """True when this request is the first with the key (waits for a concurrent one)."""
        result = await self.session.execute(
            pg_insert(orm.idempotency_keys)
            .values(scope=scope, key=key, request_hash=request_hash)
            .on_conflict_do_nothing()
            .returning(orm.idempotency_keys.c.key)
        )
        return result.first() is not None

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
        t = orm.idempotency_keys
        await self.session.execute(
            update(t)
            .where(t.c.scope == scope, t.c.key == key)
            .values(complaint_id=complaint_id, response=response)
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
