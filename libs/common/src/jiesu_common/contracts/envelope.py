"""The CloudEvents 1.0 envelope (structured JSON mode) every Jiesu message travels in."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

TOPICS = {
    "intake": "jiesu.intake.v1",
    "dispatch": "jiesu.dispatch.v1",
    "department": "jiesu.department.v1",
    "review": "jiesu.review.v1",
    "sla": "jiesu.sla.v1",
}


class EventPayload(BaseModel):
    """Base of every versioned payload; subclasses name their type and topic."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_serialization_defaults_required=True
    )

    event_type: ClassVar[str]
    topic: ClassVar[str]
    source: ClassVar[str]

    complaint_id: uuid.UUID


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope with Jiesu's tracing extensions."""

    model_config = ConfigDict(extra="allow", json_schema_serialization_defaults_required=True)

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    source: str
    type: str
    subject: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
    traceparent: str | None = None
    correlationid: str | None = None

    def to_bytes(self) -> bytes:
        """Serialize as structured-mode JSON."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> CloudEvent:
        """Parse structured-mode JSON; raises pydantic.ValidationError on bad input."""
        return cls.model_validate_json(raw)


def new_traceparent() -> str:
    """A fresh W3C traceparent (version 00, sampled)."""
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


def make_event(
    payload: EventPayload,
    *,
    correlation_id: str | None = None,
    traceparent: str | None = None,
    time: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> CloudEvent:
    """Wrap a payload in an envelope; subject is always the complaint id."""
    return CloudEvent(
        id=event_id or uuid.uuid4(),
        source=payload.source,
        type=payload.event_type,
        subject=str(payload.complaint_id),
        time=time or datetime.now(UTC),
        data=payload.model_dump(mode="json"),
        traceparent=traceparent or new_traceparent(),
        correlationid=correlation_id or str(payload.complaint_id),
    )
