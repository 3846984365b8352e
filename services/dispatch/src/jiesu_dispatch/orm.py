"""Dispatch's tables (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from jiesu_common.db import new_metadata
from jiesu_common.messaging.tables import add_messaging_tables

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

directory_snapshots = Table(
    "directory_snapshots",
    metadata,
    Column("version", Text, primary_key=True),
    Column("data", JSONB, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

routing_rule_versions = Table(
    "routing_rule_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("rules", JSONB, nullable=False),
    Column("note", Text),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# What dispatch knows of each complaint it has seen (from complaint.received).
complaint_refs = Table(
    "complaint_refs",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), primary_key=True),
    Column("summary", JSONB, nullable=False),
    Column("jurisdiction", JSONB, nullable=False),
    Column("category_code", Text),
    Column("current_round", Integer, nullable=False, server_default="0"),
    Column("state", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

assignments = Table(
    "assignments",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("lead_unit_id", Text, nullable=False),
    Column("co_unit_ids", JSONB, nullable=False, server_default="[]"),
    Column("category_code", Text, nullable=False),
    Column("sla_class", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("deadlines", JSONB, nullable=False),
    Column("rule", JSONB),
    Column("rules_version", Integer),
    Column("assigned_by", Text),
    Column("note", Text),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("complaint_id", "round"),
)
Index(
    "ix_assignments_lead_unit_id_assigned_at", assignments.c.lead_unit_id, assignments.c.assigned_at
)

dispatch_queue = Table(
    "dispatch_queue",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), primary_key=True),
    Column("round", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("candidates", JSONB, nullable=False, server_default="[]"),
    Column("queued_at", DateTime(timezone=True), nullable=False),
)
Index("ix_dispatch_queue_queued_at", dispatch_queue.c.queued_at)

# A unit's 退单, waiting for (or carrying) the centre's decision.
returns = Table(
    "returns",
    metadata,
    Column("return_id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("evidence", Text),
    Column("returned_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),  # pending | approved | rejected
    Column("decided_by", Text),
    Column("decided_at", DateTime(timezone=True)),
    Column("note", Text),
    Column("new_round", Integer),
    Column("new_lead_unit_id", Text),
)
Index("ix_returns_status_returned_at", returns.c.status, returns.c.returned_at)

# A unit's request for more time (延期).
extensions = Table(
    "extensions",
    metadata,
    Column("extension_id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),  # pending | granted | denied
    Column("decided_by", Text),
    Column("decided_at", DateTime(timezone=True)),
    Column("resolve_by", DateTime(timezone=True)),
    Column("note", Text),
)
Index("ix_extensions_status_requested_at", extensions.c.status, extensions.c.requested_at)

# A unit's request to pause its case's clocks (挂起), the centre's decision, and its end.
pauses = Table(
    "pauses",
    metadata,
    Column("pause_id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("until", DateTime(timezone=True)),  # the date asked for, then the date granted
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),  # pending | granted | denied | ended
    Column("decided_by", Text),
    Column("decided_at", DateTime(timezone=True)),
    Column("note", Text),
    Column("paused_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("ended_by", Text),
)
Index("ix_pauses_status_requested_at", pauses.c.status, pauses.c.requested_at)

# A unit's reply waiting for the centre's review (答复审核) before it counts as resolved.
reply_reviews = Table(
    "reply_reviews",
    metadata,
    Column("reply_review_id", UUID(as_uuid=True), primary_key=True),
    Column("case_id", UUID(as_uuid=True), nullable=False),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("reply", Text, nullable=False),
    Column("result", Text),
    Column("submitted_by", Text),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),  # pending | approved | sent_back
    Column("decided_by", Text),
    Column("decided_at", DateTime(timezone=True)),
    Column("note", Text),
)
Index("ix_reply_reviews_status_requested_at", reply_reviews.c.status, reply_reviews.c.requested_at)

# The city's reply-review policy: replies in these categories, or of these units, are
# reviewed by the centre before they count as resolved.
reply_review_policy = Table(
    "reply_review_policy",
    metadata,
    Column("scope", Text, primary_key=True),  # category | unit
    Column("code", Text, primary_key=True),
    Column("updated_by", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# A joint consultation (会商): units convened to decide who leads the next round.
consultations = Table(
    "consultations",
    metadata,
    Column("consultation_id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),  # the round the decision opens
    Column("trigger", Text, nullable=False),  # tie | disputed_return | second_return | manual
    Column("reason", Text, nullable=False),
    Column("participants", JSONB, nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),  # open | decided | fallen_back | cancelled
    Column("opened_by", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("lead_unit_id", Text),
    Column("co_unit_ids", JSONB),
    Column("decided_by", Text),
    Column("decided_at", DateTime(timezone=True)),
    Column("note", Text),
)
Index("ix_consultations_status_deadline", consultations.c.status, consultations.c.deadline)
Index("ix_consultations_opened_at", consultations.c.opened_at)
# At most one open consultation per complaint.
Index(
    "uq_consultations_open_complaint_id",
    consultations.c.complaint_id,
    unique=True,
    postgresql_where=text("status = 'open'"),
)

# Each participant's positions, kept as history: the latest one per unit counts.
consultation_positions = Table(
    "consultation_positions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("consultation_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("unit_id", Text, nullable=False),
    Column("position", Text, nullable=False),  # lead | co_handle | not_ours
    Column("reason", Text, nullable=False),
    Column("by", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

# A street office's whistle (吹哨), recorded from department-response's request.
whistles = Table(
    "whistles",
    metadata,
    Column("whistle_id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("case_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("street_unit_id", Text, nullable=False),
    Column("summoned_unit_ids", JSONB, nullable=False),
    Column("ask", Text, nullable=False),
    Column("report_by", DateTime(timezone=True), nullable=False),
    Column("requested_by", Text),
    Column("blown_at", DateTime(timezone=True), nullable=False),
)

# Whom to tell about a unit's cases (duty contact, head, district supervisor): the
# escalation ladder's recipients. Numbers and addresses leave dispatch only to services.
unit_contacts = Table(
    "unit_contacts",
    metadata,
    Column("unit_id", Text, primary_key=True),
    Column("role", Text, primary_key=True),  # duty | head | district_supervisor
    Column("name", Text, nullable=False),
    Column("phone", Text),
    Column("email", Text),
    Column("updated_by", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


# --- learning: history, model registry, shadowing ------------------------------------

# One closed complaint as training data (or one row of an imported history); no caller
# data. ``id`` is the complaint id for the platform's own history.
learning_examples = Table(
    "learning_examples",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("source", Text, nullable=False),  # history | import:<file name>
    Column("title", Text, nullable=False, server_default=""),
    Column("content", Text, nullable=False),
    Column("channel", Text),
    Column("grid_code", Text),
    Column("community_code", Text),
    Column("street_code", Text),
    Column("district_code", Text),
    Column("category", Text, nullable=False),
    Column("first_lead_unit_id", Text),
    Column("lead_unit_id", Text),
    Column("first_rule", JSONB),
    Column("misrouted", Boolean, nullable=False, server_default="false"),
    # A line describing its category (imported with --train-only): every fit of the
    # category model learns from it; cross-validation never scores it (migration 0009).
    Column("train_only", Boolean, nullable=False, server_default="false"),
    Column("closed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_learning_examples_closed_at", learning_examples.c.closed_at)

# Immutable: a trigger refuses updates (migration 0006).
model_versions = Table(
    "model_versions",
    metadata,
    Column("version", Integer, Identity(), primary_key=True),
    Column("kind", Text, nullable=False),  # category | unit
    Column("fingerprint", Text, nullable=False),
    Column("params", JSONB, nullable=False),
    Column("libraries", JSONB, nullable=False),
    Column("report", JSONB, nullable=False),
    Column("n_examples", Integer, nullable=False),
    Column("artefact", LargeBinary, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_model_versions_kind_fingerprint", model_versions.c.kind, model_versions.c.fingerprint)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("alias", Text, primary_key=True),  # champion | challenger
    Column(
        "version",
        Integer,
        ForeignKey("model_versions.version"),
        nullable=False,
    ),
    Column("updated_by", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

model_alias_changes = Table(
    "model_alias_changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("alias", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("previous_version", Integer),
    Column("action", Text, nullable=False),  # promote | rollback | train
    Column("changed_by", Text, nullable=False),
    Column("note", Text),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("ix_model_alias_changes_kind_alias", model_alias_changes.c.kind, model_alias_changes.c.alias)

# The champion's and the challenger's category for a live complaint, and later the truth.
shadow_predictions = Table(
    "shadow_predictions",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), primary_key=True),
    Column("champion_version", Integer),
    Column("champion_label", Text),
    Column("champion_confidence", Float),
    Column("challenger_version", Integer, nullable=False),
    Column("challenger_label", Text),
    Column("challenger_confidence", Float),
    Column("truth", Text),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
)
Index("ix_shadow_predictions_challenger_version", shadow_predictions.c.challenger_version)
