"""department-response's tables (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from jiesu_common.db import new_metadata
from jiesu_common.messaging.tables import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

# Every write stamps a row with its transaction id (``pg_current_xact_id``): the SSE feed
# reads changes in commit-safe order below the snapshot's xmin, so none is ever skipped.
XACT_ID = "pg_current_xact_id()::text::bigint"

cases = Table(
    "cases",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("assignment_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("status_before_return", Text),
    Column("ticket_no", Text, nullable=False),
    Column("summary", JSONB, nullable=False),
    Column("jurisdiction", JSONB, nullable=False),
    Column("category_code", Text, nullable=False),
    Column("sla_class", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("deadlines", JSONB, nullable=False),
    Column("co_unit_ids", JSONB, nullable=False, server_default="[]"),
    Column("lead_unit_id", Text, nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    Column("contacted_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("returned_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("reply", Text),
    Column("result", Text),
    Column("return_reason", Text),
    Column("return_decision", Text),
    Column("extension_pending", Boolean, nullable=False, server_default="false"),
    # 挂起: the pause asked for or granted (pending | paused; null when none), and its date.
    Column("pause_id", UUID(as_uuid=True)),
    Column("pause_status", Text),
    Column("paused_until", DateTime(timezone=True)),
    # Reply review (答复审核): set on the assignment by the city's policy; the reply waits
    # for the centre (pending), comes back with a note (sent_back), or is approved.
    Column("reply_review_required", Boolean, nullable=False, server_default="false"),
    Column("reply_review", Text),
    Column("reply_review_note", Text),
    Column("reply_submitted_at", DateTime(timezone=True)),
    # A whistle summons (吹哨报到): the street office's case this unit was summoned to.
    Column("whistle_id", UUID(as_uuid=True)),
    Column("summoned_by", Text),
    Column("ask", Text),
    Column("report_by", DateTime(timezone=True)),
    Column("reported_at", DateTime(timezone=True)),
    Column("xid", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_cases_unit_id_xid", cases.c.unit_id, cases.c.xid)
Index("ix_cases_xid", cases.c.xid)  # the process's change reader reads every unit's at once
Index("ix_cases_unit_id_status_assigned_at", cases.c.unit_id, cases.c.status, cases.c.assigned_at)
Index("ix_cases_complaint_id_round", cases.c.complaint_id, cases.c.round)

case_actions = Table(
    "case_actions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("action", Text, nullable=False),
    Column("by", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("detail", JSONB, nullable=False, server_default="{}"),
)

# A unit's reply templates (答复模板), per category; ``{placeholders}`` filled from the case.
reply_templates = Table(
    "reply_templates",
    metadata,
    Column("template_id", UUID(as_uuid=True), primary_key=True),
    Column("unit_id", Text, nullable=False),
    Column("category_code", Text),  # null: for every category
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_by", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index(
    "ix_reply_templates_unit_id_category_code",
    reply_templates.c.unit_id,
    reply_templates.c.category_code,
)

# Who saw a resident's phone number, when, for which case (the audited reveal).
caller_reveals = Table(
    "caller_reveals",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("revealed_by", Text, nullable=False),
    Column("reason", Text),
    Column("revealed_at", DateTime(timezone=True), nullable=False),
)

# The consultations (会商) a unit is invited to, projected per participant unit; stamped
# with the transaction id like cases, so the SSE stream delivers them in the same order.
consultations = Table(
    "consultations",
    metadata,
    Column("consultation_id", UUID(as_uuid=True), nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("ticket_no", Text),
    Column("summary", JSONB),
    Column("category_code", Text),
    Column("trigger", Text),
    Column("reason", Text, nullable=False),
    Column("participants", JSONB, nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),  # open | decided | fallen_back | cancelled
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("lead_unit_id", Text),
    Column("co_unit_ids", JSONB),
    Column("decided_at", DateTime(timezone=True)),
    Column("xid", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consultation_id", "unit_id"),
)
Index("ix_consultations_unit_id_xid", consultations.c.unit_id, consultations.c.xid)
Index("ix_consultations_xid", consultations.c.xid)
Index("ix_consultations_complaint_id", consultations.c.complaint_id)

# --- webhooks: units' subscriptions and the durable delivery queue ------------------------

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("subscription_id", UUID(as_uuid=True), primary_key=True),
    Column("unit_id", Text, nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("event_types", JSONB, nullable=False),
    Column("description", Text),
    # The signing secret (``whsec_…``): shown to the unit once, kept to sign deliveries.
    Column("secret", Text, nullable=False),
    Column("status", Text, nullable=False),  # active | disabled
    Column("consecutive_dead", Integer, nullable=False, server_default="0"),
    Column("disabled_at", DateTime(timezone=True)),
    Column("disabled_reason", Text),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One row per event per subscription, written in the transaction of the case change it
# announces; the delivery worker claims due rows (``FOR UPDATE SKIP LOCKED``) with a lease.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", UUID(as_uuid=True), primary_key=True),
    Column("webhook_id", Text, nullable=False, unique=True),
    Column(
        "subscription_id",
        UUID(as_uuid=True),
        ForeignKey("webhook_subscriptions.subscription_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("unit_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("case_id", UUID(as_uuid=True)),
    Column("body", Text, nullable=False),  # the exact bytes sent and signed, every attempt
    Column("status", Text, nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("delivered_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index(
    "ix_webhook_deliveries_due",
    webhook_deliveries.c.due_at,
    postgresql_where=text("status = 'pending'"),
)
Index(
    "ix_webhook_deliveries_subscription_id_created_at",
    webhook_deliveries.c.subscription_id,
    webhook_deliveries.c.created_at,
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "delivery_id",
        UUID(as_uuid=True),
        ForeignKey("webhook_deliveries.delivery_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("attempt", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
)
