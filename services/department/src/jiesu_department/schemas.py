"""Request and response models of department-response's HTTP API (unknown fields rejected)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from jiesu_common import caller

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
CaseStatus = Literal["assigned", "accepted", "in_progress", "resolved", "returned", "withdrawn"]


class AcceptCreate(BaseModel):
    """签收: nothing to say but "we have it"."""

    model_config = _STRICT


class ContactCreate(BaseModel):
    """响应: the first contact with the resident."""

    model_config = _STRICT

    method: Literal["phone", "visit", "sms", "wechat", "other"]
    note: str | None = Field(default=None, max_length=2000)


class ProgressCreate(BaseModel):
    """A progress note."""

    model_config = _STRICT

    note: str = Field(min_length=1, max_length=4000)


class ResolveCreate(BaseModel):
    """办结: the reply to the resident is required."""

    model_config = _STRICT

    reply: str = Field(min_length=1, max_length=8000)
    result: Literal["solved", "partly_solved", "explained", "unsolvable"] | None = None


class ReturnCreate(BaseModel):
    """退单: why the case is not this unit's, with optional evidence."""

    model_config = _STRICT

    reason: str = Field(min_length=1, max_length=2000)
    evidence: str | None = Field(default=None, max_length=4000)


class ExtensionCreate(BaseModel):
    """延期: until when, and why."""

    model_config = _STRICT

    until: AwareDatetime
    reason: str = Field(min_length=1, max_length=2000)


class PauseCreate(BaseModel):
    """挂起: why the clocks should stop (waiting for the resident, a court, the weather), and
    optionally the date they resume by themselves."""

    model_config = _STRICT

    reason: str = Field(min_length=1, max_length=2000)
    until: AwareDatetime | None = None


class WhistleCreate(BaseModel):
    """吹哨: the departments to summon, what is asked of them, and when they must report in."""

    model_config = _STRICT

    unit_ids: list[str] = Field(min_length=1, max_length=10)
    ask: str = Field(min_length=1, max_length=2000)
    report_by: AwareDatetime


class WhistleAccepted(BaseModel):
    """The whistle is recorded; dispatch blows it and the summoned units get their cases."""

    whistle_id: uuid.UUID
    case_id: uuid.UUID
    summoned_unit_ids: list[str]
    report_by: datetime


class ReportInCreate(BaseModel):
    """报到: the summoned department is on it."""

    model_config = _STRICT

    note: str | None = Field(default=None, max_length=2000)


class CaseRead(BaseModel):
    """A case as its unit sees it."""

    case_id: uuid.UUID
    complaint_id: uuid.UUID
    ticket_no: str
    round: int
    unit_id: str
    role: Literal["lead", "co"]
    status: CaseStatus
    lead_unit_id: str
    co_unit_ids: list[str]
    category_code: str
    sla_class: str
    mode: str
    summary: dict[str, Any]
    jurisdiction: dict[str, Any]
    deadlines: dict[str, Any]
    assigned_at: datetime
    accepted_at: datetime | None
    contacted_at: datetime | None
    resolved_at: datetime | None
    returned_at: datetime | None
    reply: str | None
    result: str | None
    return_reason: str | None
    return_decision: str | None
    extension_pending: bool
    pause_id: uuid.UUID | None = Field(default=None, description="the pause asked for or granted")
    pause_status: Literal["pending", "paused"] | None = Field(
        default=None, description="挂起: asked for (pending) or granted (paused)"
    )
    paused_until: datetime | None = Field(default=None, description="when a pause resumes")
    reply_review_required: bool = Field(
        default=False, description="答复审核: the centre reviews the reply before it counts"
    )
    reply_review: Literal["pending", "approved", "sent_back"] | None = None
    reply_review_note: str | None = Field(default=None, description="the reviewer's note")
    reply_submitted_at: datetime | None = None
    whistle_id: uuid.UUID | None = Field(default=None, description="set on a whistle summons")
    summoned_by: str | None = None
    ask: str | None = None
    report_by: datetime | None = None
    reported_at: datetime | None = None
    updated_at: datetime


class CaseAction(BaseModel):
    """One entry of a case's history."""

    action: str
    by: str | None
    at: datetime
    detail: dict[str, Any]


class CaseDetail(CaseRead):
    """A case with its history."""

    history: list[CaseAction]


class CasePage(BaseModel):
    """A page of cases."""

    items: list[CaseRead]
    next: str | None


class CallerRevealed(caller.CallerContact):
    """The resident's contact details, for the unit to call; every reveal is audited."""

    case_id: uuid.UUID


class RevealRead(caller.RevealAudit):
    """One audited reveal."""

    unit_id: str


def case_read(row: Any) -> CaseRead:
    """A row of ``cases`` as the API shows it."""
    return CaseRead.model_validate(row._mapping, from_attributes=False)


ConsultationStatus = Literal["open", "decided", "fallen_back", "cancelled"]


class ConsultationItem(BaseModel):
    """A consultation (会商) the unit is invited to; positions are posted to dispatch."""

    consultation_id: uuid.UUID
    unit_id: str
    complaint_id: uuid.UUID
    round: int
    ticket_no: str | None
    summary: dict[str, Any] | None
    category_code: str | None
    trigger: str | None
    reason: str
    participants: list[str]
    deadline: datetime
    status: ConsultationStatus
    opened_at: datetime
    lead_unit_id: str | None
    co_unit_ids: list[str] | None
    decided_at: datetime | None
    updated_at: datetime


class ConsultationPage(BaseModel):
    """A page of consultations."""

    items: list[ConsultationItem]
    next: str | None


class TemplateCreate(BaseModel):
    """A reply template (答复模板): for one category (or every one), with ``{placeholders}``."""

    model_config = _STRICT

    category_code: str | None = Field(default=None, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=8000)


class TemplateRead(BaseModel):
    """A unit's reply template."""

    template_id: uuid.UUID
    unit_id: str
    category_code: str | None
    title: str
    body: str
    updated_by: str
    updated_at: datetime


class TemplatePage(BaseModel):
    """A unit's templates."""

    items: list[TemplateRead]
    next: str | None


class ReplyDraft(BaseModel):
    """A case's reply drafted from a template."""

    case_id: uuid.UUID
    template_id: uuid.UUID
    title: str
    reply: str
