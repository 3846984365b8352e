"""Versioned v1 payloads for the whole event catalog (DESIGN §4).

Payloads never carry a raw phone number or name: callers appear as a pseudonymous
``caller_ref`` and masked values only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jiesu_common.contracts.envelope import TOPICS, EventPayload

Channel = Literal["phone", "web", "app", "wechat", "open311", "grid", "other"]
Kind = Literal["inquiry", "help", "complaint", "report", "suggestion", "praise"]
Urgency = Literal["emergency", "urgent", "normal"]
SlaClass = Literal["emergency", "utility", "general", "complex"]
AssignMode = Literal["auto", "manual", "consultation"]
CaseRole = Literal["lead", "co"]
Satisfaction = Literal["satisfied", "basically_satisfied", "dissatisfied"]
ConsultationTrigger = Literal["tie", "disputed_return", "second_return", "manual"]
Clock = Literal["accept", "contact", "resolve", "report_in", "review", "consultation"]
EscalationLevel = Literal["reminder", "supervision", "notice"]
# 未诉先办: a case the city opened itself, from a hot spot or a grid worker's patrol.
Proactive = Literal["hotspot", "patrol"]


class ComplaintStatus(StrEnum):
    """Intake's view of a complaint (DESIGN §5)."""

    received = "received"
    queued = "queued"
    consultation = "consultation"
    assigned = "assigned"
    accepted = "accepted"
    in_progress = "in_progress"
    resolved = "resolved"
    closed = "closed"
    merged = "merged"
    answered = "answered"
    withdrawn = "withdrawn"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocationV1(_Part):
    """Where the problem is; coordinates in WGS84."""

    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    grid_code: str | None = None


class MaskedCallerV1(_Part):
    """The caller as the bus may see them: masked, with a pseudonymous reference."""

    caller_ref: str | None = None
    name_masked: str | None = None
    phone_masked: str | None = None
    anonymous: bool = False
    confidential: bool = False


class ComplaintSummaryV1(_Part):
    """What a unit needs to see of a complaint to work on it."""

    ticket_no: str
    channel: Channel
    kind: Kind
    urgency: Urgency
    title: str | None = None
    content: str
    category_code: str | None = None
    location: LocationV1
    caller: MaskedCallerV1
    attachments: tuple[str, ...] = ()
    received_at: datetime
    attributes: dict[str, str | tuple[str, ...]] = Field(
        default_factory=dict,
        description="answers to the category's extra questions (Open311 attributes)",
    )
    proactive: Proactive | None = Field(
        default=None,
        description="未诉先办: opened by the city itself, from a hot spot or a grid patrol",
    )
    hotspot_key: str | None = Field(
        default=None, description="the hot spot a supervisor turned into this case"
    )


class JurisdictionV1(_Part):
    """The grid → community → street → district a location resolved to."""

    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    district_code: str | None = None


class DeadlinesV1(_Part):
    """Clock deadlines of one assignment (DESIGN §6)."""

    accept_by: datetime
    contact_by: datetime
    resolve_by: datetime
    return_by: datetime


# --- intake ---------------------------------------------------------------------------


class ComplaintReceivedV1(EventPayload):
    """A complaint was validated, numbered and persisted."""

    event_type = "jiesu.complaint.received.v1"
    topic = TOPICS["intake"]
    source = "/jiesu/intake"

    summary: ComplaintSummaryV1
    external_ref: str | None = None
    app_id: str | None = None


class ComplaintMergedV1(EventPayload):
    """A complaint was recognised as a duplicate and linked to its master (at filing, or by
    an operator or dispatcher by hand: ``reason`` manual, with who and why)."""

    event_type = "jiesu.complaint.merged.v1"
    topic = TOPICS["intake"]
    source = "/jiesu/intake"

    ticket_no: str
    master_id: uuid.UUID
    master_ticket_no: str
    reason: Literal["same_caller", "nearby_same_category", "manual"]
    similarity: float = Field(ge=0, le=1, description="1 for a manual merge")
    merged_at: datetime
    merged_by: str | None = None
    note: str | None = Field(default=None, description="why, for a manual merge")


class ComplaintUnmergedV1(EventPayload):
    """A merge was undone by hand: the complaint stands on its own again and is routed anew
    (``summary`` for a service that never saw it, merged at filing)."""

    event_type = "jiesu.complaint.unmerged.v1"
    topic = TOPICS["intake"]
    source = "/jiesu/intake"

    ticket_no: str
    master_id: uuid.UUID
    note: str
    unmerged_by: str
    unmerged_at: datetime
    summary: ComplaintSummaryV1


class ComplaintAnsweredV1(EventPayload):
    """An inquiry was answered on the spot (直办), no dispatch."""

    event_type = "jiesu.complaint.answered.v1"
    topic = TOPICS["intake"]
    source = "/jiesu/intake"

    ticket_no: str
    answer: str
    answered_by: str
    answered_at: datetime
    category_code: str | None = None
    summary: ComplaintSummaryV1 | None = None
    article_id: uuid.UUID | None = Field(
        default=None, description="the knowledge-base article the answer came from"
    )
    article_version: int | None = Field(default=None, ge=1)
    article_title: str | None = None


class ComplaintWithdrawnV1(EventPayload):
    """The resident withdrew the complaint."""

    event_type = "jiesu.complaint.withdrawn.v1"
    topic = TOPICS["intake"]
    source = "/jiesu/intake"

    reason: str
    withdrawn_at: datetime


SupplementIntent = Literal["comment", "confirms_fixed", "requests_reopen"]


class ComplaintSupplementedV1(EventPayload):
    """The resident added to a complaint after filing (a comment, photos, "fixed", "not fixed")."""

    event_type = "jiesu.complaint.supplemented.v1"
    topic = TOPICS["intake"]
    source = "/jiesu/intake"

    ticket_no: str
    note: str
    intent: SupplementIntent = "comment"
    attachments: tuple[str, ...] = ()
    app_id: str | None = None
    external_status: str | None = Field(
        default=None, description="the app's own status word, e.g. FixMyStreet's FIXED"
    )
    supplemented_at: datetime


# --- dispatch -------------------------------------------------------------------------


class _Dispatch(EventPayload):
    topic = TOPICS["dispatch"]
    source = "/jiesu/dispatch"


class ComplaintAssignedV1(_Dispatch):
    """A lead unit (and co-units) was assigned for one round."""

    event_type = "jiesu.complaint.assigned.v1"

    assignment_id: uuid.UUID
    round: int = Field(ge=1)
    lead_unit_id: str
    co_unit_ids: tuple[str, ...] = ()
    category_code: str
    sla_class: SlaClass
    deadlines: DeadlinesV1
    mode: AssignMode
    assigned_at: datetime
    assigned_by: str | None = None
    jurisdiction: JurisdictionV1
    summary: ComplaintSummaryV1
    previous_lead_unit_id: str | None = None
    note: str | None = None
    reply_review: bool = Field(
        default=False,
        description="the city's policy: the lead unit's reply is reviewed by the centre "
        "before it counts as resolved (答复审核)",
    )


class ComplaintQueuedV1(_Dispatch):
    """The complaint needs a human dispatcher."""

    event_type = "jiesu.complaint.queued.v1"

    round: int = Field(default=1, ge=1, description="the round the pending assignment opens")
    reason: str
    detail: str
    queued_at: datetime
    candidate_categories: tuple[str, ...] = ()


class ConsultationOpenedV1(_Dispatch):
    """Units were convened to decide together who leads (会商)."""

    event_type = "jiesu.consultation.opened.v1"

    consultation_id: uuid.UUID
    round: int = Field(default=1, ge=1, description="the round the decision will open")
    participants: tuple[str, ...]
    reason: str
    deadline: datetime
    opened_at: datetime
    trigger: ConsultationTrigger | None = Field(
        default=None, description="why it was opened: tie, disputed_return, second_return, manual"
    )
    opened_by: str | None = None
    category_code: str | None = None
    summary: ComplaintSummaryV1 | None = None


class ConsultationDecidedV1(_Dispatch):
    """A consultation ended with a lead unit (by a dispatcher or by fallback)."""

    event_type = "jiesu.consultation.decided.v1"

    consultation_id: uuid.UUID
    lead_unit_id: str
    co_unit_ids: tuple[str, ...] = ()
    decided_by: str
    fallback: bool = False
    note: str | None = None
    decided_at: datetime
    round: int | None = Field(default=None, ge=1, description="the round the decision opened")


class _CaseDecision(_Dispatch):
    """The centre's decision on something a unit asked for about its case."""

    case_id: uuid.UUID
    unit_id: str
    round: int = Field(ge=1)
    decided_by: str
    note: str | None = None
    decided_at: datetime


class ReturnApprovedV1(_CaseDecision):
    """The centre agreed a unit's return; the complaint will be re-routed."""

    event_type = "jiesu.return.approved.v1"
    return_id: uuid.UUID


class ReturnRejectedV1(_CaseDecision):
    """The centre refused a unit's return; the case goes back to the unit."""

    event_type = "jiesu.return.rejected.v1"
    return_id: uuid.UUID


class ExtensionGrantedV1(_CaseDecision):
    """An extension was approved: the resolve deadline moves."""

    event_type = "jiesu.extension.granted.v1"
    extension_id: uuid.UUID
    resolve_by: datetime


class ExtensionDeniedV1(_CaseDecision):
    """An extension was refused."""

    event_type = "jiesu.extension.denied.v1"
    extension_id: uuid.UUID


class PauseGrantedV1(_CaseDecision):
    """The centre approved a unit's pause (挂起): the case's clocks stop from ``paused_at``
    until ``until`` (when set) or until a ``pause.ended``."""

    event_type = "jiesu.pause.granted.v1"
    pause_id: uuid.UUID
    paused_at: datetime
    until: datetime | None = None


class PauseDeniedV1(_CaseDecision):
    """The centre refused a unit's pause; the clocks never stopped."""

    event_type = "jiesu.pause.denied.v1"
    pause_id: uuid.UUID


class PauseEndedV1(_CaseDecision):
    """A granted pause was ended by action before its date (``decided_by`` resumed it):
    the case's clocks run again from ``ended_at``."""

    event_type = "jiesu.pause.ended.v1"
    pause_id: uuid.UUID
    paused_at: datetime
    until: datetime | None = Field(default=None, description="the date it would have ended")
    ended_at: datetime


class ReplyApprovedV1(_CaseDecision):
    """The centre approved a unit's reply (答复审核): the case now counts as resolved."""

    event_type = "jiesu.reply.approved.v1"
    reply_review_id: uuid.UUID


class ReplySentBackV1(_CaseDecision):
    """The centre sent a unit's reply back with a note; the case stays open, its clock runs."""

    event_type = "jiesu.reply.sent_back.v1"
    reply_review_id: uuid.UUID


class WhistleBlownV1(_Dispatch):
    """A street office summoned departments to a case (吹哨)."""

    event_type = "jiesu.whistle.blown.v1"

    whistle_id: uuid.UUID
    case_id: uuid.UUID
    street_unit_id: str
    summoned_unit_ids: tuple[str, ...]
    ask: str
    report_by: datetime
    round: int = Field(ge=1)
    blown_at: datetime


MODEL_KEY_NAMESPACE = uuid.UUID("6f2b6c2e-5d0c-4f7e-9d55-8a1c3e7b0a16")


def model_key(kind: str) -> uuid.UUID:
    """The fixed key under which one model kind's announcements travel (in order)."""
    return uuid.uuid5(MODEL_KEY_NAMESPACE, f"model:{kind}")


class ModelPromotedV1(_Dispatch):
    """A model version now holds an alias (champion or challenger): every dispatch replica
    switches to it. ``complaint_id`` is no complaint here but ``model_key(kind)``, so one
    kind's announcements stay in order on one partition."""

    event_type = "jiesu.model.promoted.v1"

    kind: Literal["category", "unit"]
    alias: Literal["champion", "challenger"]
    version: int = Field(ge=1)
    previous_version: int | None = None
    action: Literal["promote", "rollback", "train", "retire"] = Field(
        description="retire: the alias points nowhere now (version is the one it left)"
    )
    promoted_by: str
    promoted_at: datetime
    note: str | None = None


# --- department -----------------------------------------------------------------------


class _Case(EventPayload):
    topic = TOPICS["department"]
    source = "/jiesu/department"

    case_id: uuid.UUID
    unit_id: str
    round: int = Field(ge=1)
    role: CaseRole
    by: str | None = None


class CaseAcceptedV1(_Case):
    """The unit signed for the case (签收)."""

    event_type = "jiesu.case.accepted.v1"
    accepted_at: datetime


class CaseContactedV1(_Case):
    """The unit first contacted the resident (响应)."""

    event_type = "jiesu.case.contacted.v1"
    method: str
    note: str | None = None
    contacted_at: datetime


class CaseProgressedV1(_Case):
    """The unit recorded progress."""

    event_type = "jiesu.case.progressed.v1"
    note: str
    progressed_at: datetime


class CaseResolvedV1(_Case):
    """The unit handled the case and replied (办结)."""

    event_type = "jiesu.case.resolved.v1"
    reply: str
    result: str | None = None
    resolved_at: datetime


class CaseReturnedV1(_Case):
    """The unit says the case is not theirs (退单)."""

    event_type = "jiesu.case.returned.v1"
    reason: str
    evidence: str | None = None
    returned_at: datetime


class CaseExtensionRequestedV1(_Case):
    """The unit asks for more time (延期)."""

    event_type = "jiesu.case.extension_requested.v1"
    until: datetime
    reason: str
    requested_at: datetime


class CasePauseRequestedV1(_Case):
    """The unit asks the centre to pause the case's clocks (挂起), with a reason and
    optionally the date they resume."""

    event_type = "jiesu.case.pause_requested.v1"
    pause_id: uuid.UUID
    reason: str
    until: datetime | None = None
    requested_at: datetime


class CaseReplySubmittedV1(_Case):
    """The unit replied on a case whose reply the centre reviews: not resolved until approved."""

    event_type = "jiesu.case.reply_submitted.v1"
    reply_review_id: uuid.UUID
    reply: str
    result: str | None = None
    submitted_at: datetime


class WhistleRequestedV1(_Case):
    """A street office holding the case asked to summon departments (吹哨); dispatch records it."""

    event_type = "jiesu.case.whistle_requested.v1"

    whistle_id: uuid.UUID
    summoned_unit_ids: tuple[str, ...] = Field(min_length=1)
    ask: str
    report_by: datetime
    requested_at: datetime


class WhistleReportedV1(_Case):
    """A summoned department reported in (报到)."""

    event_type = "jiesu.whistle.reported.v1"
    whistle_id: uuid.UUID
    note: str | None = None
    reported_at: datetime


# --- review ---------------------------------------------------------------------------


class _Review(EventPayload):
    topic = TOPICS["review"]
    source = "/jiesu/review"


class ReviewCompletedV1(_Review):
    """The resident was called back (回访)."""

    event_type = "jiesu.review.completed.v1"

    review_id: uuid.UUID
    round: int = Field(ge=1)
    lead_unit_id: str | None = None
    unit_ids: tuple[str, ...] = ()
    contacted: bool
    resolved: bool
    satisfaction: Satisfaction
    comment: str | None = None
    reviewer: str
    completed_at: datetime
    # The resident answered through a self-review link instead of an operator's callback.
    self_reported: bool = False


class ComplaintClosedV1(_Review):
    """The review closed the complaint."""

    event_type = "jiesu.complaint.closed.v1"

    review_id: uuid.UUID | None = None
    round: int = Field(ge=1)
    closed_at: datetime


class ComplaintReopenedV1(_Review):
    """The review found it unsolved or the resident dissatisfied (重办)."""

    event_type = "jiesu.complaint.reopened.v1"

    review_id: uuid.UUID
    round: int = Field(ge=1)
    next_round: int = Field(ge=2)
    reason: str
    previous_lead_unit_id: str | None = None
    reopened_at: datetime


# --- sla ------------------------------------------------------------------------------


class _Sla(EventPayload):
    topic = TOPICS["sla"]
    source = "/jiesu/metrics"

    unit_id: str
    round: int = Field(ge=1)
    clock: Clock
    deadline: datetime
    case_id: uuid.UUID | None = None


class SlaWarningV1(_Sla):
    """80 % of a clock has elapsed."""

    event_type = "jiesu.sla.warning.v1"
    warned_at: datetime


class SlaBreachedV1(_Sla):
    """A clock passed its deadline."""

    event_type = "jiesu.sla.breached.v1"
    breached_at: datetime


class EscalationRaisedV1(_Sla):
    """A rung of the escalation ladder: reminder → supervision → notice."""

    event_type = "jiesu.escalation.raised.v1"
    level: EscalationLevel
    raised_at: datetime


PAYLOADS: tuple[type[EventPayload], ...] = (
    ComplaintReceivedV1,
    ComplaintMergedV1,
    ComplaintUnmergedV1,
    ComplaintAnsweredV1,
    ComplaintWithdrawnV1,
    ComplaintSupplementedV1,
    ComplaintAssignedV1,
    ComplaintQueuedV1,
    ConsultationOpenedV1,
    ConsultationDecidedV1,
    ReturnApprovedV1,
    ReturnRejectedV1,
    ExtensionGrantedV1,
    ExtensionDeniedV1,
    PauseGrantedV1,
    PauseDeniedV1,
    PauseEndedV1,
    ReplyApprovedV1,
    ReplySentBackV1,
    WhistleBlownV1,
    ModelPromotedV1,
    CaseAcceptedV1,
    CaseContactedV1,
    CaseProgressedV1,
    CaseResolvedV1,
    CaseReturnedV1,
    CaseExtensionRequestedV1,
    CasePauseRequestedV1,
    CaseReplySubmittedV1,
    WhistleRequestedV1,
    WhistleReportedV1,
    ReviewCompletedV1,
    ComplaintClosedV1,
    ComplaintReopenedV1,
    SlaWarningV1,
    SlaBreachedV1,
    EscalationRaisedV1,
)

EVENT_TYPES: dict[str, type[EventPayload]] = {p.event_type: p for p in PAYLOADS}
