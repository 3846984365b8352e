"""callback-review's tables (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from jiesu_common.db import new_metadata
from jiesu_common.messaging.tables import add_messaging_tables
from jiesu_common.notify_store import add_notifications_table

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

# Who handled each round (from complaint.assigned), so a review names all its units.
rounds = Table(
    "rounds",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("lead_unit_id", Text, nullable=False),
    Column("co_unit_ids", JSONB, nullable=False, server_default="[]"),
    Column("ticket_no", Text, nullable=False),
    Column("summary", JSONB, nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("complaint_id", "round"),
)

# Complaints that ended without a review (withdrawn): a late resolution opens none.
ended = Table(
    "ended_complaints",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

reviews = Table(
    "reviews",
    metadata,
    Column("review_id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("source", Text, nullable=False),  # resolved | answered
    Column("ticket_no", Text),
    Column("lead_unit_id", Text),
    Column("unit_ids", JSONB, nullable=False, server_default="[]"),
    Column("reply", Text),
    Column("handled_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),  # pending | completed | cancelled
    Column("contacted", Boolean),
    Column("resolved", Boolean),
    Column("satisfaction", Text),
    Column("comment", Text),
    Column("reviewer", Text),
    Column("completed_at", DateTime(timezone=True)),
    Column("outcome", Text),  # closed | reopened
    # Answered by the resident through a self-review link, not on an operator's call.
    Column("self_reported", Boolean, nullable=False, server_default="false"),
    UniqueConstraint("complaint_id", "round"),
)
Index("ix_reviews_status_due_at", reviews.c.status, reviews.c.due_at)

# Who saw a resident's phone number to call back, when, for which review.
caller_reveals = Table(
    "caller_reveals",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("review_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("revealed_by", Text, nullable=False),
    Column("reason", Text),
    Column("revealed_at", DateTime(timezone=True), nullable=False),
)

# A resident's self-review link: signed and expiring (the token), single use (this row).
self_review_links = Table(
    "self_review_links",
    metadata,
    Column("link_id", UUID(as_uuid=True), primary_key=True),
    Column("review_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("issued_by", Text, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),  # a newer link for the same review
)

# The platform issues one link of its own per review (replicas race; one wins).
Index(
    "uq_self_review_links_platform",
    self_review_links.c.review_id,
    unique=True,
    postgresql_where=self_review_links.c.issued_by == "platform",
)

# Every message sent to a resident (the link's SMS): masked recipient, kind, when, outcome.
notifications = add_notifications_table(metadata)
