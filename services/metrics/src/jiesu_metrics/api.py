"""metrics' HTTP routes: SLA views and scorecards."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from jiesu_common.access import GuardedRoute, access
from jiesu_common.auth import Principal, Staff, require_roles
from jiesu_common.http import Problem, decode_cursor, next_cursor
from jiesu_metrics import domain
from jiesu_metrics.handlers import clock_state
from jiesu_metrics.misroutes import misroute_report
from jiesu_metrics.schemas import (
    ClockRead,
    ComplaintSla,
    MisrouteReport,
    NotificationPage,
    NotificationRead,
    OverduePage,
    OverdueRead,
    Scorecard,
)
from jiesu_metrics.scorecards import PERIOD_PATTERN, Period, scorecard
from jiesu_metrics.state import MetricsState

router = APIRouter(
    route_class=GuardedRoute,
)
READ_ROLES = ("supervisor", "admin", "dispatcher", "operator", "unit_staff")
READ_ACCESS = access(*READ_ROLES)


async def get_state(request: Request) -> MetricsState:
    """The process state built at start-up (async: a plain ``def`` dependency would run in
    a worker thread on every request)."""
    state: MetricsState = request.app.state.metrics
    return state


State = Annotated[MetricsState, Depends(get_state)]


async def metrics_reader(principal: Staff) -> Principal:
    """Staff allowed to read SLA views and scorecards."""
    return require_roles(principal, *READ_ROLES)


Caller = Annotated[Principal, Depends(metrics_reader)]


@router.get(
    "/v1/complaints/{complaint_id}/sla",
    openapi_extra=READ_ACCESS,
    response_model=ComplaintSla,
    tags=["sla"],
)
async def complaint_sla(complaint_id: uuid.UUID, principal: Caller, state: State) -> ComplaintSla:
    """Every clock of a complaint: deadline, stop, warning, breach, escalation level."""
    async with state.uow() as uow:
        fact, rows = await uow.metrics.clocks_of(complaint_id)
    if principal.role == "unit_staff":
        rows = [r for r in rows if r.unit_id == principal.unit_id]
    if fact is None or (not rows and principal.role == "unit_staff"):
        raise Problem.not_found(f"诉求时限 / SLA of complaint {complaint_id}")
    now = datetime.now(UTC)
    ended = any(getattr(fact, c) for c in ("withdrawn_at", "merged_at", "closed_at"))
    clocks = []
    for r in rows:
        clock = clock_state(r)
        outcome = domain.outcome(clock, now)
        if outcome in ("running", "breached", "pending", "paused"):
            if r.round < fact.current_round:
                outcome = "superseded"
            elif ended:
                outcome = "ended"
        clocks.append(
            ClockRead.model_validate(
                {**r._mapping, "state": outcome, "effective_deadline": clock.effective_deadline}
            )
        )
    return ComplaintSla(
        complaint_id=complaint_id,
        ticket_no=fact.ticket_no,
        current_round=fact.current_round,
        clocks=clocks,
    )


@router.get("/v1/sla/overdue", openapi_extra=READ_ACCESS, response_model=OverduePage, tags=["sla"])
async def overdue(
    principal: Caller,
    state: State,
    unit_id: str | None = None,
    clock: Literal["accept", "contact", "resolve"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OverduePage:
    """Running clocks past their deadline, most overdue first (unit staff: their unit's)."""
    if principal.role == "unit_staff":
        unit_id = principal.unit_id
    now = datetime.now(UTC)
    async with state.uow() as uow:
        rows = await uow.metrics.overdue(
            now=now, unit_id=unit_id, clock=clock, after=decode_cursor(cursor), limit=limit
        )
    items = [
        OverdueRead(
            clock_id=r.clock_id,
            complaint_id=r.complaint_id,
            ticket_no=r.ticket_no,
            round=r.round,
            unit_id=r.unit_id,
            clock=r.clock,
            deadline=r.effective_deadline,
            breached_at=r.breached_at,
            level=r.level,
            overdue_minutes=int((now - r.effective_deadline).total_seconds() // 60),
        )
        for r in rows[:limit]
    ]
    nxt = next_cursor(rows, limit, "effective_deadline", "clock_id")
    return OverduePage(items=items, next=nxt)


@router.get(
    "/v1/scorecards", openapi_extra=READ_ACCESS, response_model=Scorecard, tags=["scorecards"]
)
async def get_scorecard(
    principal: Caller,
    state: State,
    period: Annotated[str, Query(pattern=PERIOD_PATTERN, examples=["2026-11"])],
    level: Literal["unit", "street", "district"] = "unit",
) -> Scorecard:
    """The month's three rates (三率), composite, on-time, return, reopen and misroute rates."""
    async with state.uow() as uow:
        card = await scorecard(
            uow.metrics,
            period=Period.parse(period, state.settings.timezone),
            level=level,
            weights=state.settings.weights,
        )
    return Scorecard.model_validate(card)


@router.get(
    "/v1/scorecards/misroutes",
    openapi_extra=READ_ACCESS,
    response_model=MisrouteReport,
    tags=["scorecards"],
)
async def get_misroutes(
    principal: Caller,
    state: State,
    period: Annotated[str, Query(pattern=PERIOD_PATTERN, examples=["2026-11"])],
    by: Literal["unit", "category"] = "unit",
) -> MisrouteReport:
    """错派: complaints closed in the month whose first lead unit did not close them, per
    first lead unit (with the units that took them over) or per category closed under."""
    month = Period.parse(period, state.settings.timezone)
    async with state.uow() as uow:
        report = await misroute_report(
            uow.metrics, by=by, params={"start": month.start, "end": month.end}
        )
    return MisrouteReport.model_validate({"period": month.label, "by": by, **report})


# The supervisors' dashboard and hot spots (read models in jiesu_metrics.dashboard).
from jiesu_metrics.dashboard.api import router as dashboard_router  # noqa: E402

router.include_router(dashboard_router)


NOTIFICATION_ROLES = ("supervisor", "admin")


@router.get(
    "/v1/notifications",
    openapi_extra=access(*NOTIFICATION_ROLES),
    response_model=NotificationPage,
    tags=["sla"],
)
async def list_notifications(
    principal: Staff,
    state: State,
    complaint_id: uuid.UUID | None = None,
    status: Literal["pending", "sent", "failed", "dead"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NotificationPage:
    """The escalation ladder's messages: who was told (masked), what, when and the outcome."""
    require_roles(principal, *NOTIFICATION_ROLES)
    async with state.uow() as uow:
        rows = await uow.metrics.notifications(
            complaint_id=complaint_id, status=status, limit=limit
        )
    return NotificationPage(items=[NotificationRead.model_validate(r._mapping) for r in rows])
