"""Intake's tables (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID

from jiesu_common.db import new_metadata
from jiesu_common.messaging.tables import add_messaging_tables
from jiesu_common.notify_store import add_notifications_table

metadata = new_metadata()
outbox, inbox = add_messaging_tables(metadata)

complaints = Table(
    "complaints",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("ticket_no", Text, nullable=False, unique=True),
    Column("status", Text, nullable=False),
    Column("status_round", Integer, nullable=False, server_default="0"),
    Column("channel", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("urgency", Text, nullable=False),
    Column("title", Text),
    Column("content", Text, nullable=False),
    Column("category_code", Text),
    Column("caller_name_enc", LargeBinary),
    Column("caller_phone_enc", LargeBinary),
    Column("caller_phone_hash", Text),
    Column("caller_ref", Text, nullable=False),
    Column("caller_name_masked", Text),
    Column("caller_phone_masked", Text),
    Column("caller_email_enc", LargeBinary),
    Column("caller_email_masked", Text),
    Column("anonymous", Boolean, nullable=False, server_default="false"),
    Column("confidential", Boolean, nullable=False, server_default="false"),
    Column("address", Text),
    Column("lat", Float),
    Column("lon", Float),
    Column("grid_code", Text),
    Column("attachments", JSONB, nullable=False, server_default="[]"),
    # Answers to the category's extra questions (Open311 attributes), code → value(s).
    Column("attributes", JSONB, nullable=False, server_default="{}"),
    Column("external_ref", Text),
    Column("app_id", Text),
    Column("created_by", Text, nullable=False),
    Column("duplicate_of", UUID(as_uuid=True), ForeignKey("complaints.id")),
    Column("lead_unit_id", Text),
    Column("category_resolved", Text),
    # From the current round's assignment (moved by an approved extension): Open311's
    # expected_datetime.
    Column("resolve_by", DateTime(timezone=True)),
    # Free text of the event that set the current status (a unit's reply, a reason...).
    Column("status_detail", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # 直办 from the knowledge base: the article (and its version) the answer came from.
    Column("article_id", UUID(as_uuid=True)),
    Column("article_version", Integer),
    # 未诉先办: hotspot | patrol when the city opened it itself; the hot spot it came from.
    Column("proactive", Text),
    Column("hotspot_key", Text),
)
Index("ix_complaints_created_at_id", complaints.c.created_at, complaints.c.id)
Index(
    "ix_complaints_caller_phone_hash_created_at",
    complaints.c.caller_phone_hash,
    complaints.c.created_at,
)
Index("ix_complaints_category_code_created_at", complaints.c.category_code, complaints.c.created_at)
Index("ix_complaints_status", complaints.c.status)
Index(
    "ix_complaints_duplicate_of",
    complaints.c.duplicate_of,
    postgresql_where=complaints.c.duplicate_of.isnot(None),
)
Index("ix_complaints_app_id_created_at", complaints.c.app_id, complaints.c.created_at)

timeline = Table(
    "complaint_timeline",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("complaint_id", UUID(as_uuid=True), ForeignKey("complaints.id"), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("event_type", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("round", Integer),
    Column("detail", JSONB, nullable=False, server_default="{}"),
)
Index("ix_complaint_timeline_complaint_id_at", timeline.c.complaint_id, timeline.c.at)
Index("ix_complaint_timeline_at", timeline.c.at)

ticket_counters = Table(
    "ticket_counters",
    metadata,
    Column("day", Date, primary_key=True),
    Column("last", Integer, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("request_hash", Text, nullable=False),
    Column("complaint_id", UUID(as_uuid=True)),
    Column("response", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("app_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("prefix", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # A rotated key stays valid until revoked_at (its grace period), then stops working.
    Column("revoked_at", DateTime(timezone=True)),
    Column("replaced_by", UUID(as_uuid=True)),
    # Requests per minute; NULL means the service's default.
    Column("rate_limit_per_minute", Integer),
    # GCRA rate limiting: the theoretical arrival time of the key's next request.
    Column("rate_tat", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
)

# The knowledge base for direct answers (直办): each article's current version, and every
# version kept, so that an answer names exactly the text it was given from.
articles = Table(
    "articles",
    metadata,
    Column("article_id", UUID(as_uuid=True), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("category_code", Text),
    Column("valid_from", Date, nullable=False),
    Column("valid_until", Date),
    Column("owner_unit_id", Text),
    # jieba's words of the title (weight A) and body (weight B), for the suggestions.
    Column("search", TSVECTOR, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", Text, nullable=False),
)
Index("ix_articles_search", articles.c.search, postgresql_using="gin")
Index("ix_articles_updated_at_article_id", articles.c.updated_at, articles.c.article_id)

article_versions = Table(
    "article_versions",
    metadata,
    Column("article_id", UUID(as_uuid=True), ForeignKey("articles.article_id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("category_code", Text),
    Column("valid_from", Date, nullable=False),
    Column("valid_until", Date),
    Column("owner_unit_id", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", Text, nullable=False),
)

# Messages owed to residents (a merge, the master's outcome), written in the transaction of
# the change they tell of and delivered after it (the number is read from the vault then).
notifications = add_notifications_table(metadata)
