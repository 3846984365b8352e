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


ContactRole = Literal["duty", "head", "district_supervisor"]


class UnitContactIn(BaseModel):
    """One of a unit's contacts: its duty contact (值班), head (负责人) or district supervisor."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    role: ContactRole
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{4,19}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$", max_length=200)


class UnitContactsPut(BaseModel):
    """All of a unit's contacts (one per role)."""

    model_config = ConfigDict(extra="forbid")

    contacts: list[UnitContactIn] = Field(max_length=3)


class UnitContactRead(BaseModel):
    """A contact; phone and e-mail in clear only for the platform's services, masked for people."""

    role: ContactRole
    name: str
    phone: str | None
    email: str | None
    updated_at: datetime


class UnitContactsRead(BaseModel):
    """A unit's contacts."""

    unit_id: str
    contacts: list[UnitContactRead]


class AttributeValueRead(BaseModel):
    """One choice of a list question."""

    key: str
    name: str


class CategoryAttributeRead(BaseModel):
    """An extra question of a category (an Open311 service attribute)."""

    code: str
    datatype: str
    required: bool
    order: int
    description: str
    datatype_description: str | None = None
    variable: bool = True
    values: list[AttributeValueRead] = Field(default_factory=list)


class ClocksRead(BaseModel):
    """The deadlines a category's assignments run on (DESIGN §6 plus configured overrides)."""

    accept_minutes: int
    contact_minutes: int
    resolve_minutes: int
    resolve_working_days: int | None = Field(
        default=None, description="when set, resolve counts working days instead of minutes"
    )


class CategoryRead(BaseModel):
    """A category (诉求类别)."""

    code: str
    name: str
    group: str
    sla_class: str
    keywords: list[str]
    description: str
    attributes: list[CategoryAttributeRead] = Field(default_factory=list)
    clocks: ClocksRead


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


class SuggestionRead(BaseModel):
    """One category the classifier proposes, and where the routing rules would send it."""

    category_code: str
    confidence: float = Field(description="share of the classifier's total score (0–1)")
    outcome: Literal["route", "consultation", "queue"]
    lead_unit_id: str | None
    co_unit_ids: list[str]
    rule: dict[str, Any] | None = Field(description="the rule that applies: category, scope, lead")
    reason: str | None = Field(
        description="why nothing routes (queue) or who contest (consultation)"
    )
    learned_unit: LearnedUnitRead | None = Field(
        default=None,
        description="where no rule applies: the unit that history says finishes such cases",
    )


class LearnedUnitRead(BaseModel):
    """The unit model's suggestion: the unit, its share of the cases at the level used."""

    unit: str
    share: float
    support: int
    level: Literal["grid", "community", "street", "district", "city"]


class SuggestionsRead(BaseModel):
    """What a dispatcher sees beside a queued complaint: the classifier's best guesses."""

    complaint_id: uuid.UUID
    classifier_confidence: float
    min_confidence: float
    model_version: int | None = Field(
        default=None, description="the learned champion that guessed (None: keyword classifier)"
    )
    suggestions: list[SuggestionRead]


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
    status: Literal["pending", "approved", "rejected", "consultation"]
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


PositionKind = Literal["lead", "co_handle", "not_ours"]
ConsultationStatus = Literal["open", "decided", "fallen_back", "cancelled"]


class ConsultationCreate(BaseModel):
    """A dispatcher convenes units to decide together who leads (会商)."""

    model_config = _STRICT

    complaint_id: uuid.UUID
    participants: list[str] = Field(min_length=2, max_length=10)
    reason: str = Field(min_length=1, max_length=2000)
    deadline: AwareDatetime | None = Field(
        default=None, description="default: 4 working hours from now"
    )


class PositionCreate(BaseModel):
    """A participant's position: we lead, we co-handle, or not ours — with a reason."""

    model_config = _STRICT

    position: PositionKind
    reason: str = Field(min_length=1, max_length=2000)


class ConsultationDecisionCreate(BaseModel):
    """The dispatcher's decision: the lead unit and co-units of the next round."""

    model_config = _STRICT

    lead_unit_id: str = Field(min_length=1)
    co_unit_ids: list[str] = Field(default_factory=list, max_length=10)
    note: str | None = Field(default=None, max_length=2000)
    category_code: str | None = Field(
        default=None, description="only needed when the complaint has no category yet"
    )


class PositionRead(BaseModel):
    """One position a participant took (the latest per unit counts)."""

    unit_id: str
    position: PositionKind
    reason: str
    by: str
    at: datetime


class ConsultationRead(BaseModel):
    """A consultation with its positions, oldest first."""

    consultation_id: uuid.UUID
    complaint_id: uuid.UUID
    round: int
    trigger: str
    reason: str
    participants: list[str]
    deadline: datetime
    status: ConsultationStatus
    opened_by: str
    opened_at: datetime
    lead_unit_id: str | None
    co_unit_ids: list[str] | None
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    positions: list[PositionRead] = Field(default_factory=list)
    latest_positions: dict[str, PositionKind] = Field(
        default_factory=dict, description="each participant's latest position"
    )


class WhistleRead(BaseModel):
    """A whistle (吹哨) a street office blew: who is summoned, for what, by when."""

    whistle_id: uuid.UUID
    complaint_id: uuid.UUID
    case_id: uuid.UUID
    round: int
    street_unit_id: str
    summoned_unit_ids: list[str]
    ask: str
    report_by: datetime
    requested_by: str | None
    blown_at: datetime


class PauseDecisionCreate(BaseModel):
    """The centre's decision on a pause (挂起); granting may set another resume date."""

    model_config = _STRICT

    decision: Literal["grant", "deny"]
    note: str | None = Field(default=None, max_length=2000)
    until: AwareDatetime | None = None


class PauseResumeCreate(BaseModel):
    """Resume a paused case before its date (the resident called back, the court ruled)."""

    model_config = _STRICT

    note: str | None = Field(default=None, max_length=2000)


# --- learning ------------------------------------------------------------------------


class ModelVersionRead(BaseModel):
    """One immutable model version in the registry (without its artefact)."""

    version: int
    kind: Literal["category", "unit"]
    fingerprint: str = Field(description="sha256 of the training data and parameters")
    params: dict[str, Any]
    libraries: dict[str, str]
    n_examples: int
    created_by: str
    created_at: datetime
    aliases: list[str] = Field(
        description="champion and/or challenger, when this version holds them"
    )
    report: dict[str, Any] | None = Field(
        default=None, description="the evaluation report (accuracy, macro-F1, per class, ...)"
    )


class ModelVersionsRead(BaseModel):
    """A model kind's versions, newest first."""

    items: list[ModelVersionRead]
    next: str | None = None


class AliasPut(BaseModel):
    """Point an alias (champion or challenger) at a version."""

    model_config = _STRICT

    version: int = Field(ge=1, le=2**31 - 1)
    note: str | None = Field(default=None, max_length=2000)


class RollbackCreate(BaseModel):
    """Give the champion alias back to its previous version."""

    model_config = _STRICT

    note: str | None = Field(default=None, max_length=2000)


class PauseRead(BaseModel):
    """A unit's pause request, the centre's decision, and when the clocks ran again."""

    pause_id: uuid.UUID
    case_id: uuid.UUID
    complaint_id: uuid.UUID
    round: int
    unit_id: str
    reason: str
    until: datetime | None
    requested_at: datetime
    status: Literal["pending", "granted", "denied", "ended"]
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    paused_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None


class ReplyDecisionCreate(BaseModel):
    """The centre's review of a unit's reply: approve, or send back with a note."""

    model_config = _STRICT

    decision: Literal["approve", "send_back"]
    note: str | None = Field(default=None, max_length=2000)


class ReplyReviewRead(BaseModel):
    """A unit's reply waiting for (or after) the centre's review (答复审核)."""

    reply_review_id: uuid.UUID
    case_id: uuid.UUID
    complaint_id: uuid.UUID
    round: int
    unit_id: str
    reply: str
    result: str | None
    submitted_by: str | None
    requested_at: datetime
    status: Literal["pending", "approved", "sent_back"]
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


class ReplyReviewPolicy(BaseModel):
    """Which replies the centre reviews before they count as resolved: those in these
    categories, and those of these units (applies to assignments made from now on)."""

    model_config = _STRICT

    category_codes: list[str] = Field(default_factory=list, max_length=500)
    unit_ids: list[str] = Field(default_factory=list, max_length=2000)


class AliasRead(BaseModel):
    """Where an alias points now, and where it pointed before."""

    kind: Literal["category", "unit"]
    alias: Literal["champion", "challenger"]
    version: int
    previous_version: int | None


class ShadowRead(BaseModel):
    """The challenger beside the champion on live complaints, so far."""

    champion_version: int | None
    challenger_version: int | None
    seen: int = Field(description="complaints both classified")
    agreement: float | None = Field(description="share of those where they agreed")
    settled: int = Field(description="of those, closed (the final category is known)")
    champion_accuracy: float | None
    challenger_accuracy: float | None


class RuleOverturnRead(BaseModel):
    """A routing rule whose automatic assignments history keeps changing."""

    category: str
    scope: str
    lead: str
    assigned: int = Field(description="closed complaints this rule assigned first")
    overturned: int = Field(description="of those, finished by another unit")
    finished_by: str = Field(description="the unit that most often finished them")


class RuleOverturnsRead(BaseModel):
    """Rules to review."""

    items: list[RuleOverturnRead]
    next: str | None = None


class MisrouteRateRead(BaseModel):
    """Closed complaints of one first lead unit (or final category) in the month."""

    key: str = Field(description="the unit first assigned, or the final category")
    closed: int
    misrouted: int = Field(description="first lead unit did not finish it")
    misroute_rate: float


class MisrouteReplayRead(BaseModel):
    """A month's misroutes per unit and category, and would the current champions have
    routed them right?"""

    period: str
    by_unit: list[MisrouteRateRead]
    by_category: list[MisrouteRateRead]
    misroutes: int
    category_champion: int | None
    unit_champion: int | None
    category_right: int
    unit_right: int
    routed_right: int
    routed_right_rate: float | None


class ServedRead(BaseModel):
    """What one dispatch replica serves now."""

    replica: str
    category_champion: int | None
    category_challenger: int | None
    unit_champion: int | None
