"""The dashboard's read API (supervisors and admins) and hot spots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from jiesu_common.access import GuardedRoute, access
from jiesu_common.auth import Principal, Staff, require_roles
from jiesu_common.http import Problem, decode_cursor, next_cursor
from jiesu_metrics.dashboard import figures, hotspots, lists, rankings
from jiesu_metrics.dashboard import map as regions
from jiesu_metrics.dashboard.live import LiveFeed
from jiesu_metrics.dashboard.notes import notes
from jiesu_metrics.dashboard.schemas import (
    Board,
    ComplaintList,
    Hotspots,
    Kpis,
    MapData,
    Quality,
    Ranking,
    TopicSeries,
    Trends,
)
from jiesu_metrics.dashboard.scope import (
    Scope,
    Window,
    current_month_label,
    month_bounds,
    previous_month,
)
from jiesu_metrics.scorecards import PERIOD_PATTERN
from jiesu_metrics.state import MetricsState

router = APIRouter(route_class=GuardedRoute, tags=["dashboard"])
DASHBOARD_ROLES = ("supervisor", "admin")
DASHBOARD_ACCESS = access(*DASHBOARD_ROLES)
RATE_METRICS = tuple(rankings.DENOMINATOR)
Level = Literal["unit", "street", "district"]


async def get_state(request: Request) -> MetricsState:
    """The process state built at start-up."""
    state: MetricsState = request.app.state.metrics
    return state


State = Annotated[MetricsState, Depends(get_state)]


async def supervisor(principal: Staff) -> Principal:
    """Only supervisors and admins see the whole city's dashboard."""
    return require_roles(principal, *DASHBOARD_ROLES)


Supervisor = Annotated[Principal, Depends(supervisor)]


async def scope_of(
    district: str | None = None,
    street: str | None = None,
    unit: str | None = None,
    category: str | None = None,
    community: str | None = None,
    grid: str | None = None,
) -> Scope:
    """The filters every view takes."""
    return Scope(district, street, unit, category, community, grid)


Filters = Annotated[Scope, Depends(scope_of)]
Period = Annotated[
    str | None, Query(pattern=PERIOD_PATTERN, description="YYYY-MM; default this month")
]


def month(state: MetricsState, period: str | None) -> Window:
    """The period's bounds (this month by default)."""
    tz = state.settings.timezone
    return month_bounds(period or current_month_label(datetime.now(UTC), tz), tz)


async def _fetch(state: MetricsState, work: Any) -> Any:
    async with state.uow() as uow:
        return await work(uow.metrics)


@router.get("/v1/dashboard/kpis", openapi_extra=DASHBOARD_ACCESS, response_model=Kpis)
async def get_kpis(principal: Supervisor, state: State, scope: Filters) -> dict[str, Any]:
    """KPI cards: filed, assigned, closed, overdue, 三率 and composite, today and this month."""
    now = datetime.now(UTC)
    windows = figures.kpi_windows(now, state.settings.timezone)
    values = await _fetch(
        state,
        lambda repo: figures.kpis(
            repo, scope=scope, windows=windows, weights=state.settings.weights, now=now
        ),
    )
    return {
        "computed_at": now,
        "windows": {k: {"start": w.start, "end": w.end} for k, w in windows.items()},
        "values": values,
        "notes": notes(
            "filed",
            "assigned",
            "closed",
            "breached",
            "overdue_now",
            "response_rate",
            "resolution_rate",
            "satisfaction_rate",
            "composite",
        ),
    }


@router.get("/v1/dashboard/trends", openapi_extra=DASHBOARD_ACCESS, response_model=Trends)
async def get_trends(
    principal: Supervisor,
    state: State,
    scope: Filters,
    days: Annotated[int, Query(ge=2, le=366)] = 30,
) -> dict[str, Any]:
    """Per day: filed vs closed, backlog, median time to close, on-time resolve rate."""
    now = datetime.now(UTC)
    items = await _fetch(
        state,
        lambda repo: figures.trends(
            repo, scope=scope, days=days, now=now, tz=state.settings.timezone
        ),
    )
    return {
        "computed_at": now,
        "items": items,
        "notes": notes("filed", "closed", "backlog", "median_close_hours", "on_time_resolve_rate"),
    }


@router.get("/v1/dashboard/rankings", openapi_extra=DASHBOARD_ACCESS, response_model=Ranking)
async def get_rankings(
    principal: Supervisor,
    state: State,
    scope: Filters,
    period: Period = None,
    level: Level = "unit",
    metric: Literal[RATE_METRICS] = "composite",  # type: ignore[valid-type]
    min_sample: Annotated[int, Query(ge=1, le=10_000)] = 5,
) -> dict[str, Any]:
    """考核排名: rank and change of rank; below ``min_sample`` listed but not ranked."""
    window = month(state, period)
    before = previous_month(window, state.settings.timezone)
    items = await _fetch(
        state,
        lambda repo: rankings.ranking(
            repo,
            level=level,
            metric=metric,
            min_sample=min_sample,
            window=window,
            previous=before,
            scope=scope,
            weights=state.settings.weights,
        ),
    )
    return {
        "computed_at": datetime.now(UTC),
        "period": window.label,
        "previous_period": before.label,
        "level": level,
        "metric": metric,
        "min_sample": min_sample,
        "items": items,
        "notes": notes(*RATE_METRICS),
    }


@router.get("/v1/dashboard/quality", openapi_extra=DASHBOARD_ACCESS, response_model=Quality)
async def get_quality(
    principal: Supervisor,
    state: State,
    scope: Filters,
    period: Period = None,
    level: Level = "unit",
) -> dict[str, Any]:
    """派单质量: return, misroute and reopen rates, and the from→to flow of approved returns."""
    window = month(state, period)

    async def work(repo: Any) -> tuple[Any, Any]:
        rows = await rankings.level_figures(
            repo, level=level, window=window, scope=scope, weights=state.settings.weights
        )
        flows = await rankings.return_flows(repo, window=window, scope=scope)
        return rows, flows

    rows, flows = await _fetch(state, work)
    items = [
        {
            **e,
            "metric": "return_rate",
            "value": e["return_rate"],
            "sample": e["assigned"],
            "rank": None,
            "previous_rank": None,
            "rank_change": None,
            "ranked": False,
        }
        for e in sorted(rows.values(), key=lambda e: (-e["returned"], -e["assigned"], e["key"]))
    ]
    return {
        "computed_at": datetime.now(UTC),
        "period": window.label,
        "level": level,
        "items": items,
        "flows": flows,
        "notes": notes("return_rate", "misroute_rate", "reopen_rate", "assigned"),
    }


@router.get("/v1/dashboard/map", openapi_extra=DASHBOARD_ACCESS, response_model=MapData)
async def get_map(
    principal: Supervisor,
    state: State,
    scope: Filters,
    period: Period = None,
    level: Literal["district", "street", "community", "grid"] = "street",
    metric: Literal["volume", "satisfaction_rate", "composite", "on_time_resolve_rate"] = "volume",
) -> dict[str, Any]:
    """A figure per place (for dispatch's GeoJSON of that level) and heat-map points."""
    window = month(state, period)

    async def work(repo: Any) -> tuple[Any, Any]:
        values = await regions.region_values(
            repo,
            level=level,
            metric=metric,
            window=window,
            scope=scope,
            weights=state.settings.weights,
        )
        return values, await regions.heat_points(repo, window=window, scope=scope)

    values, heat = await _fetch(state, work)
    return {
        "computed_at": datetime.now(UTC),
        "period": window.label,
        "level": level,
        "metric": metric,
        "items": values,
        **heat,
        "notes": notes(metric),
    }


@router.get(
    "/v1/dashboard/complaints", openapi_extra=DASHBOARD_ACCESS, response_model=ComplaintList
)
async def get_complaints(
    principal: Supervisor,
    state: State,
    scope: Filters,
    measure: Literal[tuple(lists.MEASURES)] = "filed",  # type: ignore[valid-type]
    period: Period = None,
    start: datetime | None = None,
    end: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The complaints behind a number: a measure, a period (or start–end) and the filters."""
    window = month(state, period)
    if start is not None or end is not None:
        if start is None or end is None or start.tzinfo is None or end.tzinfo is None:
            raise Problem.invalid("start 与 end 须同时给出且带时区 / give both, with a time zone")
        window = Window(start, end)
    after = decode_cursor(cursor)
    rows = await _fetch(
        state,
        lambda repo: lists.complaints(
            repo, measure=measure, window=window, scope=scope, after=after, limit=limit
        ),
    )
    nxt = next_cursor(rows, limit, "at", "complaint_id")
    return {
        "computed_at": datetime.now(UTC),
        "measure": measure,
        "start": window.start,
        "end": window.end,
        "items": [dict(r._mapping) for r in rows[:limit]],
        "next": nxt,
    }


@router.get("/v1/sla/board", openapi_extra=DASHBOARD_ACCESS, response_model=Board, tags=["sla"])
async def get_board(
    principal: Supervisor,
    state: State,
    scope: Filters,
    horizon: Literal["overdue", "today", "tomorrow", "week"] = "overdue",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """超期/预警: open clocks by horizon with red/yellow/green and the escalation ladder."""
    now = datetime.now(UTC)
    tz = state.settings.timezone

    async def work(repo: Any) -> tuple[Any, Any]:
        counts = await lists.board_counts(repo, scope=scope, now=now, tz=tz)
        rows = await lists.board(repo, horizon=horizon, scope=scope, now=now, tz=tz, limit=limit)
        return counts, rows

    counts, rows = await _fetch(state, work)
    fraction = state.settings.warning_fraction
    ladder = state.projector.ladder
    items = [
        {
            **r._mapping,
            "remaining_seconds": int((r.deadline - now).total_seconds()),
            "light": lists.light(r, now, fraction),
            "ladder": lists.ladder_times(r, ladder),
        }
        for r in rows
    ]
    return {
        "computed_at": now,
        "horizon": horizon,
        "counts": counts,
        "items": items,
        "warning_fraction": fraction,
    }


@router.get(
    "/v1/hotspots", openapi_extra=DASHBOARD_ACCESS, response_model=Hotspots, tags=["hotspots"]
)
async def get_hotspots(
    principal: Supervisor,
    state: State,
    scope: Filters,
    level: Literal["grid", "community", "street"] = "community",
    window: Literal["day", "week", "month"] = "week",
    history: Annotated[int, Query(ge=1, le=24, description="previous windows compared")] = 8,
    min_count: Annotated[int, Query(ge=1, le=1000)] = 3,
    at: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    """Clusters of category × place in the latest window, most unusual first (每月一题)."""
    now = datetime.now(UTC)
    end = at if at is not None and at.tzinfo is not None else now
    items = await _fetch(
        state,
        lambda repo: hotspots.find_hotspots(
            repo,
            level=level,
            window=window,
            history=history,
            at=end,
            min_count=min_count,
            scope=scope,
            limit=limit,
        ),
    )
    return {
        "computed_at": now,
        "method": "poisson-surprise",
        "items": items,
        "notes": notes(
            "hotspot_surprise", "hotspot_z", "repeat_callers", "repeat_addresses", "duplicates"
        ),
    }


@router.get(
    "/v1/hotspots/series",
    openapi_extra=DASHBOARD_ACCESS,
    response_model=TopicSeries,
    tags=["hotspots"],
)
async def get_topic_series(
    principal: Supervisor,
    state: State,
    category: str,
    level: Literal["grid", "community", "street", "district"] = "community",
    place: str | None = None,
    months: Annotated[int, Query(ge=2, le=36)] = 12,
) -> dict[str, Any]:
    """每月一题: a topic's (category, optionally at a place) volume month by month."""
    now = datetime.now(UTC)
    items = await _fetch(
        state,
        lambda repo: hotspots.monthly_series(
            repo,
            category=category,
            level=level,
            place=place,
            months=months,
            now=now,
            tz=state.settings.timezone,
        ),
    )
    return {
        "computed_at": now,
        "category_code": category,
        "level": level,
        "place_code": place,
        "items": items,
    }


async def live_feed(request: Request) -> LiveFeed:
    """The process's one feed reader, made on first use."""
    feed: LiveFeed | None = getattr(request.app.state, "live_feed", None)
    if feed is None:
        state: MetricsState = request.app.state.metrics

        async def fetch(sql: str, params: dict[str, Any]) -> list[Any]:
            async with state.uow() as uow:
                return await uow.metrics.fetch(sql, params)

        feed = request.app.state.live_feed = LiveFeed(fetch)
    return feed


@router.get("/v1/live", openapi_extra=DASHBOARD_ACCESS, response_class=EventSourceResponse)
async def live(
    request: Request, principal: Supervisor, feed: Annotated[LiveFeed, Depends(live_feed)]
) -> AsyncIterator[ServerSentEvent]:
    """Server-Sent Events: ``filed``, ``closed``, ``breached`` and ``escalated`` as they happen.

    A ``ping`` every 15 s keeps proxies from closing an idle stream.
    """
    yield ServerSentEvent(event="ready", data={"at": datetime.now(UTC).isoformat()}, retry=2000)
    async with feed.subscribe() as queue:
        idle = timedelta()
        while not request.app.state.draining:
            try:
                item = await asyncio.wait_for(queue.get(), 1.0)
            except TimeoutError:
                idle += timedelta(seconds=1)
                if idle >= timedelta(seconds=15):
                    idle = timedelta()
                    yield ServerSentEvent(event="ping", data={})
                continue
            idle = timedelta()
            yield ServerSentEvent(event=item["kind"], data=item)
