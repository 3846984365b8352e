"""Dispatch's tables (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, Table, Text, UniqueConstraint, func
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
