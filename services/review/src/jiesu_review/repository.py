"""callback-review's data access."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import exists, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from jiesu_common.db.sql import (
    FastRepository,
    Row,
    insert_once,
    json_args,
    row_or_none,
    set_clause,
    values_of,
)
from jiesu_common.messaging.tables import OutboxRows, outbox_rows_cte
from jiesu_review import orm

# The hot reads of a callback's path, as fixed text on the unit of work's own connection
# (asyncpg prepares each once per connection): the session's statement handling cost more
# than the reads themselves.
_ROUND_OF = f"SELECT * FROM {orm.rounds.name} WHERE complaint_id = $1 AND round = $2"
_ENDED = f"SELECT 1 FROM {orm.ended.name} WHERE complaint_id = $1"
_HAS_ENDED = f"SELECT EXISTS ({_ENDED})"
# Whether a resolution is superseded (the complaint ended, or a later round exists) and,
# when known, its round's units, in one trip.
_RESOLUTION = (
    f"SELECT EXISTS ({_ENDED}) OR EXISTS "
    f"(SELECT 1 FROM {orm.rounds.name} WHERE complaint_id = $1 AND round > $2) AS superseded, "
    f"r.* FROM (SELECT 1) AS one LEFT JOIN {orm.rounds.name} AS r "
    "ON r.complaint_id = $1 AND r.round = $2"
)
_GET = f"SELECT * FROM {orm.reviews.name} WHERE review_id = $1"


@functools.lru_cache(maxsize=16)
def _note_round(columns: str, placeholders: str, n: int) -> str:
    # The round, once, and in the same trip whether its review exists already.
    return (
        f"WITH r AS (INSERT INTO rounds ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT DO NOTHING) SELECT review_id FROM reviews WHERE review_id = ${n + 1}"
    )


_CANCEL_PENDING = (
    f"UPDATE {orm.reviews.name} SET status = 'cancelled' "
    "WHERE complaint_id = $1 AND status = 'pending'"
)
_CANCEL_PENDING_BELOW = f"{_CANCEL_PENDING} AND round < $2"


@functools.lru_cache(maxsize=16)
def _change(columns: tuple[str, ...]) -> str:
    return f"UPDATE {orm.reviews.name} SET {set_clause(columns, 2)} WHERE review_id = $1"


@functools.lru_cache(maxsize=16)
def _complete(columns: tuple[str, ...]) -> str:
    # The review as answered and the events queued so far, in one round trip.
    return f"WITH {outbox_rows_cte(len(columns) + 2)} {_change(columns)} RETURNING *"


class ReviewRepository(FastRepository):
    """Reads and writes reviews and what they need inside one session."""

    async def note_round(self, row: dict[str, Any], *, review_id: uuid.UUID) -> bool:
        """Remember who handles a round (once); True when the round's review exists already
        (its resolution came first: topics are not ordered among themselves)."""
        columns, placeholders, args = values_of(orm.rounds, row)
        sql = _note_round(columns, placeholders, len(args))
        return await (await self.conn()).fetchval(sql, *args, review_id) is not None

    async def round_of(self, complaint_id: uuid.UUID, round_no: int) -> Any | None:
        """The units of one round, if known yet."""
        return row_or_none(await (await self.conn()).fetchrow(_ROUND_OF, complaint_id, round_no))

    async def resolution_context(
        self, complaint_id: uuid.UUID, round_no: int
    ) -> tuple[bool, Any | None]:
        """For a round's resolution, in one trip: whether it is superseded (the complaint
        ended, or a later round exists), and the round's units if known yet."""
        record = await (await self.conn()).fetchrow(_RESOLUTION, complaint_id, round_no)
        assert record is not None  # the outer join always gives one row
        known = None if record["complaint_id"] is None else Row(record)
        return bool(record["superseded"]), known

    async def mark_ended(self, complaint_id: uuid.UUID, reason: str, at: datetime) -> None:
        """The complaint ended without a review."""
        await self.session.execute(
            pg_insert(orm.ended)
            .values(complaint_id=complaint_id, reason=reason, at=at)
            .on_conflict_do_nothing()
        )

    async def has_ended(self, complaint_id: uuid.UUID) -> bool:
        """True when the complaint was withdrawn."""
        return bool(await (await self.conn()).fetchval(_HAS_ENDED, complaint_id))

    async def add_review(self, row: dict[str, Any]) -> bool:
        """Open a review once per complaint and round; False when it exists."""
        columns, placeholders, args = values_of(orm.reviews, row)
        sql = insert_once(orm.reviews.name, columns, placeholders, "review_id")
        return await (await self.conn()).fetchval(sql, *args) is not None

    async def complete(self, review_id: uuid.UUID, outbox: OutboxRows, **values: Any) -> Any:
        """Record a review's answer and write its events (``outbox``: the unit of work's
        ``take_outbox_rows``) in one statement; returns the review as it is now."""
        sql = _complete(tuple(values))
        args = json_args(orm.reviews, values)
        return row_or_none(await (await self.conn()).fetchrow(sql, review_id, *args, *outbox))

    async def get(self, review_id: uuid.UUID, *, for_update: bool = False) -> Any | None:
        """One review, optionally row-locked."""
        sql = _GET + " FOR UPDATE" if for_update else _GET
        return row_or_none(await (await self.conn()).fetchrow(sql, review_id))

    async def of_complaint(self, complaint_id: uuid.UUID) -> list[Any]:
        """A complaint's reviews, first round first."""
        t = orm.reviews
        query = select(t).where(t.c.complaint_id == complaint_id).order_by(t.c.round)
        return list((await self.session.execute(query)).all())

    async def change(self, review_id: uuid.UUID, **values: Any) -> None:
        """Update a review."""
        sql = _change(tuple(values))
        await (await self.conn()).execute(sql, review_id, *json_args(orm.reviews, values))

    async def cancel_pending(
        self, complaint_id: uuid.UUID, *, below_round: int | None = None
    ) -> None:
        """Cancel a complaint's pending reviews (of rounds below ``below_round``)."""
        conn = await self.conn()
        if below_round is None:
            await conn.execute(_CANCEL_PENDING, complaint_id)
        else:
            await conn.execute(_CANCEL_PENDING_BELOW, complaint_id, below_round)

    async def page(
        self,
        *,
        status: str | None,
        due_before: datetime | None,
        complaint_id: uuid.UUID | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Any]:
        """Reviews by due time, keyset-paginated."""
        c = orm.reviews.c
        query = select(orm.reviews)
        if status is not None:
            query = query.where(c.status == status)
        if due_before is not None:
            query = query.where(c.due_at <= due_before)
        if complaint_id is not None:
            query = query.where(c.complaint_id == complaint_id)
        if after is not None:
            query = query.where(tuple_(c.due_at, c.review_id) > tuple_(*after))
        query = query.order_by(c.due_at, c.review_id).limit(limit + 1)
        return list((await self.session.execute(query)).all())

    async def add_reveal(self, row: dict[str, Any]) -> None:
        """Record who saw a resident's phone number."""
        await self.session.execute(insert(orm.caller_reveals).values(**row))

    async def reveals(self, review_id: uuid.UUID) -> list[Any]:
        """The reveal audit of a review."""
        t = orm.caller_reveals
        query = select(t).where(t.c.review_id == review_id).order_by(t.c.revealed_at)
        return list((await self.session.execute(query)).all())

    # --- self-review links ------------------------------------------------------------

    async def add_link(self, row: dict[str, Any]) -> None:
        """Issue a link; the review's earlier unused links stop working."""
        t = orm.self_review_links
        await self.session.execute(
            update(t)
            .where(t.c.review_id == row["review_id"], t.c.used_at.is_(None))
            .where(t.c.revoked_at.is_(None))
            .values(revoked_at=row["issued_at"])
        )
        await self.session.execute(insert(t).values(**row))

    async def add_platform_link(self, row: dict[str, Any]) -> bool:
        """The platform's own link of a review, once (False: another replica issued it)."""
        t = orm.self_review_links
        result = await self.session.execute(
            pg_insert(t)
            .values(**row)
            .on_conflict_do_nothing(
                index_elements=[t.c.review_id], index_where=t.c.issued_by == "platform"
            )
            .returning(t.c.link_id)
        )
        return result.first() is not None

    async def due_without_link(self, now: datetime, limit: int) -> list[Any]:
        """Pending reviews already due that have no link yet, oldest due first."""
        t, links = orm.reviews, orm.self_review_links
        query = (
            select(t)
            .where(t.c.status == "pending", t.c.due_at <= now)
            .where(~exists().where(links.c.review_id == t.c.review_id))
            .order_by(t.c.due_at)
            .limit(limit)
        )
        return list((await self.session.execute(query)).all())

    async def revoke_link(self, link_id: uuid.UUID, now: datetime) -> None:
        """A link that must never work (it could not be sent)."""
        t = orm.self_review_links
        await self.session.execute(update(t).where(t.c.link_id == link_id).values(revoked_at=now))

    async def link(self, link_id: uuid.UUID, *, for_update: bool = False) -> Any | None:
        """One link, optionally row-locked."""
        t = orm.self_review_links
        query = select(t).where(t.c.link_id == link_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def use_link(self, link_id: uuid.UUID, now: datetime) -> None:
        """Mark a link used (in the transaction that records the answer)."""
        t = orm.self_review_links
        await self.session.execute(update(t).where(t.c.link_id == link_id).values(used_at=now))

    async def links(self, review_id: uuid.UUID) -> list[Any]:
        """A review's links, oldest first."""
        t = orm.self_review_links
        query = select(t).where(t.c.review_id == review_id).order_by(t.c.issued_at)
        return list((await self.session.execute(query)).all())

    async def add_notification(self, row: dict[str, Any]) -> None:
        """Record a message about to be sent."""
        await self.session.execute(insert(orm.notifications).values(**row))

    async def record_notification(self, notification_id: uuid.UUID, **values: Any) -> None:
        """A message's outcome."""
        t = orm.notifications
        await self.session.execute(
            update(t).where(t.c.notification_id == notification_id).values(**values)
        )

    async def notifications(self, complaint_id: uuid.UUID) -> list[Any]:
        """The messages sent about a complaint, oldest first."""
        t = orm.notifications
        query = select(t).where(t.c.complaint_id == complaint_id).order_by(t.c.created_at)
        return list((await self.session.execute(query)).all())
