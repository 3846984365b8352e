"""Response models of metrics' HTTP API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

ClockOutcome = Literal[
    "met", "late", "breached", "running", "paused", "pending", "superseded", "ended"
]


class ClockRead(BaseModel):
    """One SLA clock of a complaint."""

    clock_id: uuid.UUID
    round: int
    unit_id: str
    role: str | None
    clock: str
    case_id: uuid.UUID | None
    started_at: datetime | None
    deadline: datetime | None
    extended_deadline: datetime | None
    stopped_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    level: str | None
    paused_at: datetime | None = Field(default=None, description="挂起: a pause running since")
    pause_until: datetime | None = Field(default=None, description="... until (None: by action)")
    paused_s: float = Field(default=0.0, description="seconds of pauses over, added to deadline")
    effective_deadline: datetime | None = Field(
        default=None, description="the deadline moved by extension and pauses over"
    )
    state: ClockOutcome


class ComplaintSla(BaseModel):
    """All clocks of a complaint, current round first in importance."""

    complaint_id: uuid.UUID
    ticket_no: str | None
    current_round: int
    clocks: list[ClockRead]


class OverdueRead(BaseModel):
    """A running clock past its deadline."""

    clock_id: uuid.UUID
    complaint_id: uuid.UUID
    ticket_no: str | None
    round: int
    unit_id: str
    clock: str
    deadline: datetime
    breached_at: datetime | None
    level: str | None
    overdue_minutes: int


class OverduePage(BaseModel):
    """A page of overdue clocks."""

    items: list[OverdueRead]
    next: str | None


class ScorecardRow(BaseModel):
    """One unit's (street's, district's) month: counts and rates (None without a denominator)."""

    key: str
    reviewed: int
    contacted: int
    resolved: int
    satisfied: int
    reopened: int
    assigned: int
    returned: int
    returns_approved: int
    accept_on_time: int
    accept_late: int
    contact_on_time: int
    contact_late: int
    resolve_on_time: int
    resolve_late: int
    breaches: int
    consultations: int = Field(description="consultations the unit took part in (opened)")
    consultations_decided_in_time: int
    consultations_fallen_back: int
    whistles_blown: int = Field(description="whistles the street office blew")
    report_ins_due: int = Field(description="summonses the unit received")
    pauses: int = Field(default=0, description="挂起: pauses granted in the month")
    paused_hours: float = Field(
        default=0.0, description="hours those pauses lasted (a running one up to now)"
    )
    report_in_on_time: int
    report_in_late: int
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    composite: float | None
    on_time_accept_rate: float | None
    on_time_resolve_rate: float | None
    return_rate: float | None
    reopen_rate: float | None
    misroute_rate: float | None = Field(
        description="改派率: approved returns ÷ rounds assigned in the month (the dashboard's "
        "ranking); see first_assignment_misroute_rate for misroutes as complaints closed"
    )
    first_assigned_closed: int = Field(
        default=0, description="complaints closed in the month whose first lead was this key"
    )
    misrouted: int = Field(
        default=0, description="错派: of those, closed by another lead unit than the first"
    )
    first_assignment_misroute_rate: float | None = Field(
        default=None, description="错派率: misrouted ÷ first_assigned_closed"
    )
    on_time_report_in_rate: float | None
    proactive_assigned: int = Field(
        default=0, description="未诉先办 rounds assigned (not in the three rates)"
    )
    proactive_from_hotspots: int = 0
    proactive_from_patrols: int = 0
    proactive_reviewed: int = 0
    proactive_resolved: int = 0
    proactive_resolution_rate: float | None = None


class ArticleUse(BaseModel):
    """One article's direct answers in the month."""

    article_id: uuid.UUID
    title: str | None
    latest_version: int | None
    answered: int = Field(description="inquiries answered from it (直办)")
    direct_answer_rate: float | None = Field(description="answered / all inquiries in the month")
    reviewed: int = Field(description="of those, called back")
    reopened: int = Field(description="of those reviewed, unsolved or dissatisfied (重办)")
    reopen_rate: float | None


class PlatformRow(BaseModel):
    """The hotline's own figures for the month."""

    received: int
    answered: int
    direct_answer_rate: float | None
    inquiries: int = Field(default=0, description="inquiries (咨询) received in the month")
    proactive_from_hotspots: int = Field(default=0, description="未诉先办 cases from hot spots")
    proactive_from_patrols: int = Field(default=0, description="未诉先办 cases from grid patrols")
    articles: list[ArticleUse] = Field(
        default_factory=list, description="直办 per knowledge-base article, most used first"
    )


class Scorecard(BaseModel):
    """The month's scorecard at one level."""

    period: str
    level: Literal["unit", "street", "district"]
    items: list[ScorecardRow]
    platform: PlatformRow


class Takeover(BaseModel):
    """A unit that finally closed some of a key's misrouted complaints."""

    unit_id: str
    closed: int


class MisrouteRow(BaseModel):
    """One first lead unit's (or category's) complaints closed in the month."""

    key: str = Field(description="the unit first assigned, or the category closed under")
    closed: int
    misrouted: int = Field(description="closed by another lead unit than the first")
    misroute_rate: float | None
    taken_over_by: list[Takeover] = Field(
        default_factory=list, description="the closing lead units of the misrouted, top few"
    )


class MisrouteReport(BaseModel):
    """错派 in a month: complaints closed whose first lead unit did not close them."""

    period: str
    by: Literal["unit", "category"]
    items: list[MisrouteRow]
    closed: int
    misrouted: int
    misroute_rate: float | None


class NotificationRead(BaseModel):
    """A message of the escalation ladder: for whom (masked), what, when, and how it went."""

    notification_id: uuid.UUID
    kind: str
    complaint_id: uuid.UUID | None
    about: dict[str, Any]
    recipient_role: str | None
    recipient: str | None
    recipient_name: str | None
    channel: str | None
    status: Literal["pending", "sent", "failed", "dead"]
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None


class NotificationPage(BaseModel):
    """Messages, newest first."""

    items: list[NotificationRead]
    next: str | None = None
