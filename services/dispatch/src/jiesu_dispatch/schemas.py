"""Request and response models of dispatch's HTTP API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UnitRead(BaseModel):
    """A unit (承办单位)."""

    unit_id: str
    name: str
    kind: str
    district: str | None
    street: str | None


class CategoryRead(BaseModel):
    """A category (诉求类别)."""

    code: str
    name: str
    group: str
    sla_class: str
    keywords: list[str]
    description: str


class RuleIn(BaseModel):
    """One routing rule: category × scope → lead unit (+ co-units)."""

    model_config = _STRICT

    category: str
    scope: str = Field(description='"*", "district:<code>" or "street:<code>"')
    lead: str = Field(description='a unit id, "@street" or "@district"')
    co_units: list[str] = Field(default_factory=list)


class RulesPut(BaseModel):
    """A whole new version of the routing rules."""

    model_config = _STRICT

    rules: list[RuleIn] = Field(min_length=1)
    note: str | None = Field(default=None, max_length=500)


class RulesRead(BaseModel):
    """One version of the routing rules."""

    version: int
    rules: list[dict[str, Any]]
    note: str | None
    created_by: str
    created_at: datetime


class AssignmentCreate(BaseModel):
    """A dispatcher's manual assignment."""

    model_config = _STRICT

    lead_unit_id: str
    co_unit_ids: list[str] = Field(default_factory=list, max_length=20)
    category_code: str | None = None
    note: str | None = Field(default=None, max_length=1000)


class AssignmentRead(BaseModel):
    """An assignment as dispatch made it."""

    assignment_id: uuid.UUID
    complaint_id: uuid.UUID
    round: int
    lead_unit_id: str
    co_unit_ids: list[str]
    category_code: str
    sla_class: str
    mode: str
    deadlines: dict[str, Any]
    assigned_at: datetime


class QueueItem(BaseModel):
    """A complaint waiting for a human dispatcher."""

    complaint_id: uuid.UUID
    round: int
    reason: str
    detail: str
    candidates: list[str]
    queued_at: datetime
    summary: dict[str, Any]
    jurisdiction: dict[str, Any]


class ReturnDecisionCreate(BaseModel):
    """The centre's decision on a return; approving may name the new lead unit."""

    model_config = _STRICT

    decision: Literal["approve", "reject"]
    note: str | None = Field(default=None, max_length=2000)
    lead_unit_id: str | None = Field(default=None, description="approve only: assign to this unit")
    co_unit_ids: list[str] = Field(default_factory=list, max_length=10)


class ReturnRead(BaseModel):
    """A unit's return and the centre's decision."""

    return_id: uuid.UUID
    case_id: uuid.UUID
    complaint_id: uuid.UUID
    round: int
    unit_id: str
    reason: str
    evidence: str | None
    returned_at: datetime
    status: Literal["pending", "approved", "rejected"]
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    new_round: int | None
    new_lead_unit_id: str | None


class ExtensionDecisionCreate(BaseModel):
    """The centre's decision on an extension; granting may set another resolve_by."""

    model_config = _STRICT

    decision: Literal["grant", "deny"]
    note: str | None = Field(default=None, max_length=2000)
    resolve_by: AwareDatetime | None = None


class ExtensionRead(BaseModel):
    """A unit's extension request and the centre's decision."""

    extension_id: uuid.UUID
    case_id: uuid.UUID
    complaint_id: uuid.UUID
    round: int
    unit_id: str
    until: datetime
    reason: str
    requested_at: datetime
    status: Literal["pending", "granted", "denied"]
    decided_by: str | None
    decided_at: datetime | None
    resolve_by: datetime | None
    note: str | None
