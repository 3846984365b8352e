"""Request and response models of the webhook subscriptions API (unknown fields rejected)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jiesu_department.webhooks.rules import EventType
from jiesu_department.webhooks.targets import MAX_URL_LENGTH

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SubscriptionCreate(BaseModel):
    """A webhook: where to send which events of the unit's cases."""

    model_config = _STRICT

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="https URL receiving POSTs (http only to loopback in development)",
    )
    event_types: list[EventType] = Field(min_length=1, max_length=32)
    description: str | None = Field(default=None, max_length=200, pattern=r"^[^\x00]*$")
    unit_id: str | None = Field(
        default=None, max_length=100, description="admins only: the unit subscribing"
    )


class SubscriptionRead(BaseModel):
    """A subscription as its unit sees it (never with its secret)."""

    subscription_id: uuid.UUID
    unit_id: str
    url: str
    event_types: list[str]
    description: str | None
    status: Literal["active", "disabled"]
    consecutive_dead: int
    disabled_at: datetime | None
    disabled_reason: str | None
    created_by: str
    created_at: datetime


class SubscriptionCreated(SubscriptionRead):
    """The new subscription with its signing secret, shown this once."""

    secret: str = Field(description="Standard Webhooks signing secret (whsec_…), shown once")


class SubscriptionPage(BaseModel):
    """A unit's subscriptions."""

    items: list[SubscriptionRead]
    next: str | None


class AttemptRead(BaseModel):
    """One attempt of a delivery."""

    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryRead(BaseModel):
    """One event sent (or being sent) to a subscription, with its attempts."""

    delivery_id: uuid.UUID
    webhook_id: str
    event_type: str
    case_id: uuid.UUID | None
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    due_at: datetime
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptRead]


class DeliveryPage(BaseModel):
    """A page of a subscription's delivery log, newest first."""

    items: list[DeliveryRead]
    next: str | None


def subscription_read(row: Any) -> SubscriptionRead:
    """A row of ``webhook_subscriptions`` as the API shows it."""
    return SubscriptionRead.model_validate(row._mapping)


def delivery_read(row: Any, attempts: list[Any]) -> DeliveryRead:
    """A row of ``webhook_deliveries`` with its attempts."""
    return DeliveryRead.model_validate(
        row._mapping | {"attempt_log": [a._mapping for a in attempts]}
    )
