"""Request and response models of callback-review's HTTP API (unknown fields rejected)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jiesu_common import caller

Satisfaction = Literal["satisfied", "basically_satisfied", "dissatisfied"]


class ReviewCreate(BaseModel):
    """The resident's answers: contacted? solved? satisfied?"""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contacted: bool
    resolved: bool
    satisfaction: Satisfaction
    comment: str | None = Field(default=None, max_length=4000)


class ReviewRead(BaseModel):
    """A review: what is to be asked, and once completed, the answers and the outcome."""

    review_id: uuid.UUID
    complaint_id: uuid.UUID
    ticket_no: str | None
    round: int
    source: Literal["resolved", "answered"]
    lead_unit_id: str | None
    unit_ids: list[str]
    reply: str | None
    handled_at: datetime
    due_at: datetime
    status: Literal["pending", "completed", "cancelled"]
    contacted: bool | None
    resolved: bool | None
    satisfaction: Satisfaction | None
    comment: str | None
    reviewer: str | None
    completed_at: datetime | None
    outcome: Literal["closed", "reopened"] | None
    self_reported: bool = False


class ReviewPage(BaseModel):
    """A page of reviews."""

    items: list[ReviewRead]
    next: str | None


class CallerRevealed(caller.CallerContact):
    """The resident's contact details for the callback; every reveal is audited."""

    review_id: uuid.UUID


class RevealRead(caller.RevealAudit):
    """One audited reveal."""


class LinkSent(BaseModel):
    """How the link's SMS went (the recipient masked)."""

    status: Literal["sent", "failed"]
    channel: str | None
    recipient: str | None
    error: str | None


class SelfReviewLinkRead(BaseModel):
    """A self-review link (never its token: only the resident's SMS carries it)."""

    link_id: uuid.UUID
    review_id: uuid.UUID
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


class SelfReviewLinkIssued(SelfReviewLinkRead):
    """A link just issued, and its SMS."""

    sent: LinkSent
