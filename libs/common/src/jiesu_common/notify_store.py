"""The record of messages sent, one table in each sending service's own database.

A row is the message's whole life: written ``pending`` (in the transaction that decided
the message is owed, so it is owed exactly once), then ``sent``, or ``failed`` and tried
again later with a growing delay, and ``dead`` after the last attempt. It keeps who the
message was for only masked (``138****5678``), the kind (template), when, the outcome
and the last error.
"""

from __future__ import annotations

from datetime import datetime, timedelta
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
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

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
