"""Request and response models of intake's HTTP API (unknown fields rejected)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    field_validator,
    model_validator,
)

from jiesu_common.contracts.events import Channel, Kind, Urgency

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class _Input(BaseModel):
    """A request body: PostgreSQL text cannot hold NUL, so no field may carry one."""

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("不能含 NUL 字符 / must not contain NUL characters")
        return data


ANSWERABLE_KINDS = ("inquiry", "suggestion", "praise")


AttributeCode = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AttributeValue = Annotated[str, StringConstraints(max_length=2000)]


class CallerIn(BaseModel):
    """Who called; name and phone are stored encrypted."""

    model_config = _STRICT

    name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    anonymous: bool = False
    confidential: bool = False

    @field_validator("phone")
    @classmethod
    def _phone_digits(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = "".join(ch for ch in value if ch.isdigit())
        if not 5 <= len(digits) <= 15 or any(ch not in "0123456789+- ()" for ch in value):
            raise ValueError("电话号码格式无效 / phone must be 5-15 digits")
        return value


class LocationIn(BaseModel):
    """Where: an address, coordinates (WGS84) or a grid code."""

    model_config = _STRICT

    address: str | None = Field(default=None, max_length=500)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    grid_code: str | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _both_coordinates(self) -> LocationIn:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat 与 lon 须同时提供 / lat and lon go together")
        return self


class ComplaintCreate(_Input):
    """A new complaint (诉求) with its five elements."""

    model_config = _STRICT

    channel: Channel
    kind: Kind
    urgency: Urgency = "normal"
    title: str | None = Field(default=None, max_length=200)
    content: str = Field(min_length=2, max_length=5000)
    category_code: str | None = Field(default=None, max_length=64)
    caller: CallerIn = Field(default_factory=CallerIn)
    location: LocationIn = Field(default_factory=LocationIn)
    attachments: list[HttpUrl] = Field(default_factory=list, max_length=20)
    external_ref: str | None = Field(default=None, max_length=128)
    attributes: dict[AttributeCode, AttributeValue | list[AttributeValue]] = Field(
        default_factory=dict,
        max_length=50,
        description="answers to the category's extra questions (Open311 attributes)",
    )
    answer: str | None = Field(
        default=None,
        min_length=2,
        max_length=5000,
        description="直办: the operator answered on the spot; the complaint is not dispatched",
    )
    article_id: uuid.UUID | None = Field(
        default=None,
        description="直办 from the knowledge base: the inquiry is answered from this article "
        "(its body, unless `answer` words it); recorded with the article's version",
    )
    article_version: int | None = Field(
        default=None, ge=1, description="the version the operator saw (refused when stale)"
    )
    hotspot_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="未诉先办: the hot spot a supervisor turns into this case (supervisors only)",
    )

    @model_validator(mode="after")
    def _only_answerable_kinds(self) -> ComplaintCreate:
        if self.answer is not None and self.kind not in ANSWERABLE_KINDS:
            raise ValueError(
                "只有咨询、建议、表扬可直接答复 / only inquiries, suggestions and praise "
                "can be answered on the spot"
            )
        if self.article_id is not None and self.kind != "inquiry":
            raise ValueError(
                "只有咨询可按知识库直接答复 / only inquiries are answered from articles"
            )
        if self.article_version is not None and self.article_id is None:
            raise ValueError("article_version 须与 article_id 同时提供 / goes with article_id")
        return self


class WithdrawRequest(_Input):
    """The resident withdraws the complaint."""

    model_config = _STRICT

    reason: str = Field(min_length=2, max_length=1000)


class MergeRequest(_Input):
    """合并: the master this complaint duplicates, and why (recorded, shown on the timeline)."""

    model_config = _STRICT

    master_id: uuid.UUID
    note: str = Field(min_length=2, max_length=1000)


class UnmergeRequest(_Input):
    """撤销合并: why the complaint stands on its own after all."""

    model_config = _STRICT

    note: str = Field(min_length=2, max_length=1000)


class ComplaintCreated(BaseModel):
    """The answer to a filing."""

    complaint_id: uuid.UUID
    ticket_no: str
    status: str
    duplicate_of: uuid.UUID | None = None


class TimelineEntry(BaseModel):
    """One thing that happened to the complaint."""

    event_type: str
    at: datetime
    round: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class CallerOut(BaseModel):
    """The caller as staff see them: masked."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    anonymous: bool = False
    confidential: bool = False


class ComplaintRead(BaseModel):
    """A complaint with its current status (and, for one complaint, its timeline)."""

    complaint_id: uuid.UUID
    ticket_no: str
    status: str
    round: int
    channel: str
    kind: str
    urgency: str
    title: str | None
    content: str
    category_code: str | None
    caller: CallerOut
    location: dict[str, Any]
    attachments: list[str]
    attributes: dict[str, str | list[str]] = Field(default_factory=dict)
    external_ref: str | None
    duplicate_of: uuid.UUID | None
    lead_unit_id: str | None
    resolve_by: datetime | None = None
    article_id: uuid.UUID | None = Field(
        default=None, description="直办: the article answered from"
    )
    article_version: int | None = None
    proactive: str | None = Field(default=None, description="未诉先办: hotspot | patrol")
    hotspot_key: str | None = None
    created_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntry] | None = None


class ComplaintPage(BaseModel):
    """A page of complaints."""

    items: list[ComplaintRead]
    next: str | None


class ApiKeyCreate(_Input):
    """A new API key for a third-party app."""

    model_config = _STRICT

    app_id: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=200)
    rate_limit_per_minute: int | None = Field(
        default=None, ge=1, le=100_000, description="requests per minute; default: the service's"
    )


class ApiKeyRotate(BaseModel):
    """Replace a key; the old one keeps working for ``grace_minutes`` (0: stops now)."""

    model_config = _STRICT

    grace_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)


class ApiKeyCreated(BaseModel):
    """The key is shown once; only its hash is kept."""

    id: uuid.UUID
    app_id: str
    name: str
    api_key: str
    prefix: str
    rate_limit_per_minute: int


class ApiKeyRead(BaseModel):
    """A key as admins see it: never the key itself, nor its hash."""

    id: uuid.UUID
    app_id: str
    name: str
    prefix: str
    rate_limit_per_minute: int
    active: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    replaced_by: uuid.UUID | None


class ApiKeyPage(BaseModel):
    """A list of keys."""

    items: list[ApiKeyRead]
    next: str | None = None
