"""Response models of the dashboard's read API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Note(BaseModel):
    """What a figure counts."""

    label: str
    formula: str
    denominator: str


class Figures(BaseModel):
    """The counts and rates of one window."""

    filed: int
    assigned: int
    closed: int
    breached: int
    overdue_now: int
    reviewed: int
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    composite: float | None


class Span(BaseModel):
    """A half-open time range."""

    start: datetime
    end: datetime


class Kpis(BaseModel):
    """KPI cards: today and the month so far, against the same span before."""

    computed_at: datetime
    windows: dict[Literal["today", "yesterday", "month", "prev_month"], Span]
    values: dict[Literal["today", "yesterday", "month", "prev_month"], Figures]
    notes: dict[str, Note]


class TrendDay(BaseModel):
    """One local day."""

    day: str
    filed: int
    closed: int
    backlog: int
    median_close_hours: float | None
    resolve_decided: int
    on_time_resolve_rate: float | None


class Trends(BaseModel):
    """Daily trends."""

    computed_at: datetime
    items: list[TrendDay]
    notes: dict[str, Note]


class RankingRow(BaseModel):
    """One unit's (street's, district's) figures, its rank and the rank before."""

    key: str
    reviewed: int
    contacted: int
    resolved: int
    satisfied: int
    reopened: int
    assigned: int
    returned: int
    returns_approved: int
    resolve_decided: int
    resolve_on_time: int
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    composite: float | None
    reopen_rate: float | None
    on_time_resolve_rate: float | None
    return_rate: float | None
    misroute_rate: float | None
    metric: str
    value: float | None
    sample: int
    rank: int | None = Field(description="null: below the minimum sample, listed but not ranked")
    previous_rank: int | None
    rank_change: int | None = Field(description="positive: moved up")
    ranked: bool


class Ranking(BaseModel):
    """考核排名 of one period."""

    computed_at: datetime
    period: str
    previous_period: str
    level: Literal["unit", "street", "district"]
    metric: str
    min_sample: int
    items: list[RankingRow]
    notes: dict[str, Note]


class Flow(BaseModel):
    """Approved returns from one unit to the next lead."""

    source: str
    target: str
    count: int


class Quality(BaseModel):
    """Dispatch quality: return, misroute and reopen rates, and where returns went."""

    computed_at: datetime
    period: str
    level: Literal["unit", "street", "district"]
    items: list[RankingRow]
    flows: list[Flow]
    notes: dict[str, Note]


class RegionValue(BaseModel):
    """One place's figure."""

    code: str
    value: float | None
    sample: int


class HeatPoint(BaseModel):
    """Complaints at a ~100 m spot."""

    lat: float
    lon: float
    count: int


class GridCount(BaseModel):
    """Complaints of a grid without a position."""

    code: str
    count: int


class MapData(BaseModel):
    """Figures per place, and heat-map points."""

    computed_at: datetime
    period: str
    level: Literal["district", "street", "community", "grid"]
    metric: str
    items: list[RegionValue]
    points: list[HeatPoint]
    grids: list[GridCount]
    notes: dict[str, Note]


class ComplaintRow(BaseModel):
    """A complaint behind a number."""

    complaint_id: uuid.UUID
    ticket_no: str | None
    category_code: str | None
    district_code: str | None
    street_code: str | None
    community_code: str | None
    grid_code: str | None
    address: str | None
    lead_unit_id: str | None
    status: str
    received_at: datetime | None
    closed_at: datetime | None
    at: datetime = Field(description="the moment that counts it in the window")


class ComplaintList(BaseModel):
    """A page of complaints behind a number."""

    computed_at: datetime
    measure: str
    start: datetime
    end: datetime
    items: list[ComplaintRow]
    next: str | None


class LadderStep(BaseModel):
    """One rung of 催办 → 督办 → 通报."""

    level: Literal["reminder", "supervision", "notice"]
    due_at: datetime
    reached: bool


class BoardRow(BaseModel):
    """An open clock on the overdue/warning board."""

    clock_id: uuid.UUID
    complaint_id: uuid.UUID
    ticket_no: str | None
    round: int
    unit_id: str
    clock: str
    role: str | None
    category_code: str | None
    street_code: str | None
    district_code: str | None
    started_at: datetime | None
    deadline: datetime
    remaining_seconds: int
    light: Literal["red", "yellow", "green"]
    level: str | None
    level_at: datetime | None
    ladder: list[LadderStep]


class Board(BaseModel):
    """超期/预警: open clocks of one horizon and how many each horizon holds."""

    computed_at: datetime
    horizon: Literal["overdue", "today", "tomorrow", "week"]
    counts: dict[str, int]
    items: list[BoardRow]
    warning_fraction: float


class Hotspot(BaseModel):
    """A cluster of one category at one place in the latest window."""

    category_code: str
    level: Literal["grid", "community", "street"]
    place_code: str
    window: Literal["day", "week", "month"]
    window_start: datetime
    window_end: datetime
    count: int = Field(description="complaints plus duplicates merged into them")
    complaints: int
    duplicates: int
    history: list[int] = Field(description="counts of the previous windows, oldest first")
    expected: float = Field(description="λ, the count the place's own history expects")
    trend: float | None = Field(description="this window ÷ the mean of the previous ones")
    surprise: float = Field(description="−log10 P(X ≥ count), X ~ Poisson(λ)")
    z_score: float
    repeat_callers: int
    repeat_addresses: int
    reviewed: int
    satisfaction_rate: float | None


class Hotspots(BaseModel):
    """Hot spots, most unusual first."""

    computed_at: datetime
    method: str
    items: list[Hotspot]
    notes: dict[str, Note]


class MonthCount(BaseModel):
    """A month's volume."""

    month: str
    count: int


class TopicSeries(BaseModel):
    """每月一题: one topic's volume month by month."""

    computed_at: datetime
    category_code: str
    level: str
    place_code: str | None
    items: list[MonthCount]
