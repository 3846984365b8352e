"""The record of messages sent, one table in each sending service's own database.

A row is the message's whole life: written ``pending`` (in the transaction that decided
the message is owed, so it is owed exactly once), then ``sent``, or ``failed`` and tried
again later with a growing delay, and ``dead`` after the last attempt. It keeps who the
message was for only masked (``138****5678``), the kind (template), when, the outcome
and the last error.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

STATUSES = ("pending", "sent", "failed", "dead")


def _columns() -> list[Any]:
    return [
        Column("notification_id", UUID(as_uuid=True), nullable=False),
        Column("kind", Text, nullable=False),  # escalation.reminder, review.self_link, …
        Column("complaint_id", UUID(as_uuid=True)),
        # What the message is about (unit, clock, level; review, link …), never a number.
        Column("about", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("recipient_role", Text),  # duty | head | district_supervisor | resident
        Column("recipient", Text),  # masked: 138****5678, z***@example.com
        Column("recipient_name", Text),
        Column("channel", Text),  # sms | email | file | none
        Column("status", Text, nullable=False),  # pending | sent | failed | dead
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("next_attempt_at", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True)),
        Column("provider_id", Text),
        Column("last_error", Text),
        PrimaryKeyConstraint("notification_id", name="pk_notifications"),
    ]


def add_notifications_table(metadata: MetaData) -> Table:
    """Define ``notifications`` on ``metadata``."""
    table = Table("notifications", metadata, *_columns())
    Index("ix_notifications_complaint_id", table.c.complaint_id)
    Index(
        "ix_notifications_next_attempt_at",
        table.c.next_attempt_at,
        postgresql_where=table.c.next_attempt_at.isnot(None),
    )
    return table


def create_notifications_table(op: Any) -> None:
    """Alembic step shared by the services that send messages."""
    op.create_table("notifications", *_columns())
    op.create_index("ix_notifications_complaint_id", "notifications", ["complaint_id"])
    op.create_index(
        "ix_notifications_next_attempt_at",
        "notifications",
        ["next_attempt_at"],
        postgresql_where=text("next_attempt_at IS NOT NULL"),
    )


def drop_notifications_table(op: Any) -> None:
    """Alembic downgrade of ``create_notifications_table``."""
    op.drop_table("notifications")


def retry_at(now: datetime, attempts: int, *, first_s: float, cap_s: float) -> datetime:
    """When to try again after ``attempts`` failed tries: ``first_s`` doubling up to ``cap_s``."""
    delay = min(cap_s, first_s * 2 ** max(0, attempts - 1))
    return now + timedelta(seconds=delay)


def claim_due_sql(also: str) -> Any:
    """Leases the messages due at ``:now`` until ``:lease`` (another replica skips them, and
    a process that dies holding them leaves them to be tried again), at most ``:limit``;
    returns their rows and ``also``: more columns the sender needs, as SQL expressions that
    may name ``notifications``."""
    return text(
        "UPDATE notifications SET next_attempt_at = :lease, attempts = attempts + 1 "
        "WHERE notification_id IN (SELECT notification_id FROM notifications "
        "WHERE next_attempt_at <= :now AND status IN ('pending', 'failed') "
        "ORDER BY next_attempt_at LIMIT :limit FOR UPDATE SKIP LOCKED) "
        f"RETURNING notifications.*, {also}"
    )


class NotificationRows:
    """A repository's part for its service's ``notifications`` table: lease what is due,
    record an outcome. ``CLAIM`` is the service's ``claim_due_sql``, ``NOTIFICATIONS`` its
    table (``add_notifications_table``)."""

    CLAIM: Any
    NOTIFICATIONS: Table
    session: AsyncSession

    async def claim_notifications(
        self, now: datetime, limit: int, *, lease_until: datetime
    ) -> list[Any]:
        """Messages due at ``now``, leased until ``lease_until``."""
        params = {"now": now, "lease": lease_until, "limit": limit}
        return list((await self.session.execute(self.CLAIM, params)).all())

    async def record_notification(self, notification_id: uuid.UUID, **values: Any) -> None:
        """A message's outcome."""
        t = self.NOTIFICATIONS
        await self.session.execute(
            update(t).where(t.c.notification_id == notification_id).values(**values)
        )


async def deliver_due(
    uow: Callable[[], AbstractAsyncContextManager[Any]],
    rows_of: Callable[[Any], NotificationRows],
    send: Callable[[Any], Awaitable[dict[str, Any]]],
    *,
    batch: int,
    lease_s: float,
    now: datetime | None = None,
) -> int:
    """Lease the messages due now (one transaction), send each and record its outcome (one
    transaction each); how many were sent. ``send`` returns the columns to record."""
    now = now or datetime.now(UTC)
    async with uow() as work:
        rows = await rows_of(work).claim_notifications(
            now, batch, lease_until=now + timedelta(seconds=lease_s)
        )
        if not rows:
            return 0
        await work.commit()
    sent = 0
    for row in rows:
        outcome = await send(row)
        sent += outcome["status"] == "sent"
        async with uow() as work:
            await rows_of(work).record_notification(row.notification_id, **outcome)
            await work.commit()
    return sent
