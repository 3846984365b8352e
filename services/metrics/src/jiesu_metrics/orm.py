"""metrics' tables: facts projected from every topic, and the SLA clocks."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from jiesu_common.db import new_metadata
from jiesu_common.messaging.tables import add_messaging_tables
from jiesu_common.notify_store import add_notifications_table

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

complaint_facts = Table(
    "complaint_facts",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), primary_key=True),
    Column("ticket_no", Text),
    Column("channel", Text),
    Column("kind", Text),
    Column("received_at", DateTime(timezone=True)),
    Column("answered_at", DateTime(timezone=True)),
    Column("withdrawn_at", DateTime(timezone=True)),
    Column("merged_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    # The round the review closed: its lead unit is the one that finally took the complaint
    # (against the first round's lead, a misroute). Null before 0009: the last round known.
    Column("closed_round", Integer),
    Column("current_round", Integer, nullable=False, server_default="0"),
    # For the dashboard and hot spots: what it is about (dispatch's category) and where
    # (the jurisdiction of its first assignment), who called (pseudonymous) and from where.
    Column("category_code", Text),
    Column("grid_code", Text),
    Column("community_code", Text),
    Column("street_code", Text),
    Column("district_code", Text),
    Column("caller_ref", Text),
    Column("address", Text),
    Column("lat", Float),
    Column("lon", Float),
    Column("master_id", UUID(as_uuid=True)),  # a merged duplicate's master
    # 直办 from the knowledge base: the article answered from (title as it was then).
    Column("article_id", UUID(as_uuid=True)),
    Column("article_version", Integer),
    Column("article_title", Text),
    # 未诉先办: hotspot | patrol for a case the city opened itself.
    Column("proactive", Text),
    Column("hotspot_key", Text),
)
Index("ix_complaint_facts_received_at", complaint_facts.c.received_at)
Index(
    "ix_complaint_facts_closed_at",
    complaint_facts.c.closed_at,
    postgresql_where=complaint_facts.c.closed_at.isnot(None),
)
Index(
    "ix_complaint_facts_article_id_answered_at",
    complaint_facts.c.article_id,
    complaint_facts.c.answered_at,
    postgresql_where=complaint_facts.c.article_id.isnot(None),
)
Index(
    "ix_complaint_facts_master_id",
    complaint_facts.c.master_id,
    postgresql_where=complaint_facts.c.master_id.isnot(None),
)

rounds = Table(
    "rounds",
    metadata,
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("lead_unit_id", Text, nullable=False),
    Column("co_unit_ids", JSONB, nullable=False, server_default="[]"),
    Column("mode", Text, nullable=False),
    Column("category_code", Text, nullable=False),
    Column("sla_class", Text, nullable=False),
    Column("street_code", Text),
    Column("district_code", Text),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    Column("proactive", Text),  # hotspot | patrol: counted apart from residents' requests
    PrimaryKeyConstraint("complaint_id", "round"),
)
Index("ix_rounds_lead_unit_id_assigned_at", rounds.c.lead_unit_id, rounds.c.assigned_at)
# The dashboard's figures by month or day over every unit (one insert per round).
Index("ix_rounds_assigned_at", rounds.c.assigned_at)

# One clock per complaint, round, unit and kind (accept, contact, resolve). Stops may be
# seen before the assignment that starts the clock: every column is filled independently.
clocks = Table(
    "clocks",
    metadata,
    Column("clock_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("clock", Text, nullable=False),
    Column("role", Text),
    Column("case_id", UUID(as_uuid=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("deadline", DateTime(timezone=True)),
    Column("extended_deadline", DateTime(timezone=True)),
    Column("stopped_at", DateTime(timezone=True)),
    Column("warned_at", DateTime(timezone=True)),
    Column("breached_at", DateTime(timezone=True)),
    Column("level", Text),  # reminder | supervision | notice
    Column("next_fire_at", DateTime(timezone=True)),
    Column("level_at", DateTime(timezone=True)),  # when the ladder reached ``level``
    # 挂起: a pause running since ``paused_at`` (until ``pause_until``, or until ended by
    # action), and the seconds of pauses already over, which move the whole ladder later.
    Column("paused_at", DateTime(timezone=True)),
    Column("pause_until", DateTime(timezone=True)),
    Column("paused_s", Float, nullable=False, server_default="0"),
    PrimaryKeyConstraint("complaint_id", "round", "unit_id", "clock"),
)
Index(
    "ix_clocks_breached_at",
    clocks.c.breached_at,
    postgresql_where=clocks.c.breached_at.isnot(None),
)
Index("ix_clocks_level_at", clocks.c.level_at, postgresql_where=clocks.c.level_at.isnot(None))
Index(
    "ix_clocks_next_fire_at",
    clocks.c.next_fire_at,
    postgresql_where=clocks.c.next_fire_at.isnot(None),
)
Index("ix_clocks_unit_id_started_at", clocks.c.unit_id, clocks.c.started_at)

reviews = Table(
    "review_facts",
    metadata,
    Column("review_id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("lead_unit_id", Text),
    Column("contacted", Boolean, nullable=False),
    Column("resolved", Boolean, nullable=False),
    Column("satisfaction", Text, nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=False),
)
Index("ix_review_facts_completed_at", reviews.c.completed_at)
Index("ix_review_facts_complaint_id", reviews.c.complaint_id)

returns = Table(
    "return_facts",
    metadata,
    Column("case_id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("returned_at", DateTime(timezone=True)),
    Column("decision", Text),  # approved | rejected (null while pending)
)

# Consultations (会商): opened and decided come from dispatch, in any order with the rest.
consultations = Table(
    "consultation_facts",
    metadata,
    Column("consultation_id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer),
    Column("participants", JSONB),
    Column("opened_at", DateTime(timezone=True)),
    Column("deadline", DateTime(timezone=True)),
    Column("decided_at", DateTime(timezone=True)),
    Column("fallback", Boolean),
    Column("lead_unit_id", Text),
)
Index("ix_consultation_facts_opened_at", consultations.c.opened_at)

# Whistles (吹哨): the street office that blew, and whom it summoned.
whistles = Table(
    "whistle_facts",
    metadata,
    Column("whistle_id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("street_unit_id", Text, nullable=False),
    Column("summoned_unit_ids", JSONB, nullable=False),
    Column("report_by", DateTime(timezone=True), nullable=False),
    Column("blown_at", DateTime(timezone=True), nullable=False),
)
Index("ix_whistle_facts_blown_at", whistles.c.blown_at)

# Pauses (挂起) granted by the centre, for the scorecards' paused time; ``ended_at`` is set
# when one is ended by action before its date.
pauses = Table(
    "pause_facts",
    metadata,
    Column("pause_id", UUID(as_uuid=True), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), nullable=False),
    Column("round", Integer, nullable=False),
    Column("unit_id", Text, nullable=False),
    Column("paused_at", DateTime(timezone=True), nullable=False),
    Column("until", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
)
Index("ix_pause_facts_paused_at", pauses.c.paused_at)

# The escalation ladder's messages (催办 → the duty contact, 督办 → head and district
# supervisor, 通报 → the supervisors): written pending with the escalation, then delivered.
notifications = add_notifications_table(metadata)
