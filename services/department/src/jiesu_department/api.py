"""department-response's HTTP routes: a unit's work queue, case actions, the SSE feed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request

from jiesu_common.access import GuardedRoute, access
from jiesu_common.auth import Principal, Staff, require_roles
from jiesu_common.caller import RevealCreate
from jiesu_common.caller import reveal_caller as reveal_caller_once
from jiesu_common.http import Problem, decode_cursor, next_cursor
from jiesu_common.sse import (
    KEEPALIVE,
    KEEPALIVE_S,
    SSE_RESPONSES,
    EventStream,
    event_stream,
    frame,
)
from jiesu_department import collaboration, handlers
from jiesu_department.domain import Action
from jiesu_department.schemas import (
    AcceptCreate,
    CallerRevealed,
    CaseAction,
    CaseDetail,
    CasePage,
    CaseRead,
    CaseStatus,
    ConsultationItem,
    ConsultationPage,
    ConsultationStatus,
    ContactCreate,
    ExtensionCreate,
    PauseCreate,
    ProgressCreate,
    ReportInCreate,
    ResolveCreate,
    ReturnCreate,
    RevealRead,
    WhistleAccepted,
    WhistleCreate,
    case_read,
)
from jiesu_department.state import DepartmentState

router = APIRouter(
    route_class=GuardedRoute,
)
STREAM_BATCH = 2000
UNIT_ROLES = ("unit_staff",)
READ_ROLES = ("unit_staff", "supervisor", "dispatcher", "admin")
READ_ACCESS = access(*READ_ROLES)
UNIT_ACCESS = access(*UNIT_ROLES)


async def get_state(request: Request) -> DepartmentState:
    """The process state built at start-up (async: a plain ``def`` dependency would run in
    a worker thread on every request)."""
    state: DepartmentState = request.app.state.department
    return state


State = Annotated[DepartmentState, Depends(get_state)]


Caller = Staff


def _unit_of(principal: Principal, unit_id: str | None) -> str:
    """Unit staff always get their own unit; others must say which unit they look at."""
    require_roles(principal, *READ_ROLES)
    if principal.role == "unit_staff":
        assert principal.unit_id is not None
        return principal.unit_id
    if not unit_id:
        raise Problem.invalid("请指定 unit_id / unit_id is required for this role")
    return unit_id


@router.get("/v1/cases", openapi_extra=READ_ACCESS, response_model=CasePage, tags=["cases"])
async def list_cases(
    principal: Caller,
    state: State,
    status: Annotated[list[CaseStatus] | None, Query()] = None,
    complaint_id: uuid.UUID | None = None,
    unit_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePage:
    """The caller's unit's work queue (filter by status), oldest assignment first."""
    unit = _unit_of(principal, unit_id)
    async with state.uow() as uow:
        rows = await uow.cases.page(
            unit_id=unit,
            statuses=list(status) if status else None,
            complaint_id=complaint_id,
            after=decode_cursor(cursor),
            limit=limit,
        )
    items = [case_read(r) for r in rows[:limit]]
    nxt = next_cursor(rows, limit, "assigned_at", "case_id")
    return CasePage(items=items, next=nxt)


@router.get(
    "/v1/cases/stream",
    openapi_extra=READ_ACCESS,
    response_class=EventStream,
    responses=SSE_RESPONSES,
    tags=["cases"],
)
async def stream_cases(
    request: Request,
    principal: Caller,
    state: State,
    unit_id: str | None = None,
    after: Annotated[int | None, Query(ge=0, description="resume cursor (an event id)")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventStream:
    """Server-Sent Events: each new or changed case of the unit, as it commits.

    Cases come as ``event: case``; consultations the unit is invited to (会商) as
    ``event: consultation``. Each event's ``id`` is a cursor: reconnect with
    ``Last-Event-ID`` (or ``?after=``) to resume without a gap. Without one the stream
    starts from now; ``after=0`` replays all.
    """
    unit = _unit_of(principal, unit_id)
    cursor = _resume_cursor(after, last_event_id)
    return event_stream(_case_frames(request, state, unit, cursor))


async def _case_frames(
    request: Request, state: Any, unit: str, cursor: int | None
) -> AsyncIterator[bytes]:
    async with state.feed.subscribe(unit) as sub:
        if cursor is None:
            cursor = sub.joined_at
        yield frame("ready", {"unit_id": unit}, id=str(cursor), retry=2000)
        # From where the client resumes up to where this stream joined the process's change
        # reader, the stream reads for itself; after that the reader hands it its changes.
        # Shielded: a client that goes away must not cancel a query half-way, which would
        # hand its connection back to the pool in the middle of an operation.
        while cursor < sub.joined_at:
            changes, resume = await asyncio.shield(
                state.feed.read_changes(unit, cursor, sub.joined_at)
            )
            for _, kind, row in changes:
                yield _stream_event(kind, row)
            cursor = sub.joined_at if resume is None else resume
        quiet = 0.0
        while not request.app.state.draining and not sub.overflowed:
            try:
                async with asyncio.timeout(1.0):
                    xid, kind, row = await sub.queue.get()
            except TimeoutError:
                quiet += 1.0
                if quiet >= KEEPALIVE_S:
                    quiet = 0.0
                    yield KEEPALIVE
                continue  # look at draining again
            quiet = 0.0
            if xid >= cursor:
                yield _stream_event(kind, row)
    # A client too slow for the reader ends here and resumes with Last-Event-ID.


def _stream_event(kind: int, row: Any) -> bytes:
    if kind == 0:
        return frame("case", case_read(row), id=str(row.xid))
    return frame("consultation", ConsultationItem.model_validate(row._mapping), id=str(row.xid))


@router.get(
    "/v1/consultations",
    openapi_extra=READ_ACCESS,
    response_model=ConsultationPage,
    tags=["consultations"],
)
async def list_consultations(
    principal: Caller,
    state: State,
    status: Annotated[list[ConsultationStatus] | None, Query()] = None,
    unit_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConsultationPage:
    """The consultations (会商) the unit is invited to, open ones by default, oldest first.

    Positions and decisions are posted to dispatch (``/v1/consultations/{id}/positions``).
    """
    unit = _unit_of(principal, unit_id)
    async with state.uow() as uow:
        rows = await uow.cases.consultations_page(
            unit_id=unit,
            statuses=list(status) if status else ["open"],
            after=decode_cursor(cursor),
            limit=limit,
        )
    items = [ConsultationItem.model_validate(r._mapping) for r in rows[:limit]]
    nxt = next_cursor(rows, limit, "opened_at", "consultation_id")
    return ConsultationPage(items=items, next=nxt)


@router.get(
    "/v1/cases/{case_id}", openapi_extra=READ_ACCESS, response_model=CaseDetail, tags=["cases"]
)
async def get_case(case_id: uuid.UUID, principal: Caller, state: State) -> CaseDetail:
    """One case with its history (404 for a case of another unit)."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        case = await handlers.own_case(case_id, principal, uow)
        history = await uow.cases.history(case_id)
    return CaseDetail(
        **case_read(case).model_dump(),
        history=[CaseAction.model_validate(h._mapping) for h in history],
    )


async def _act(
    state: DepartmentState,
    principal: Principal,
    case_id: uuid.UUID,
    action: Action,
    body: dict[str, Any],
) -> CaseRead:
    require_roles(principal, *UNIT_ROLES)
    async with state.uow() as uow:
        row = await handlers.act_on_case(
            case_id=case_id, action=action, body=body, principal=principal, uow=uow
        )
    return case_read(row)


@router.post(
    "/v1/cases/{case_id}/accept",
    openapi_extra=UNIT_ACCESS,
    response_model=CaseRead,
    tags=["actions"],
)
async def accept_case(
    case_id: uuid.UUID, principal: Caller, state: State, body: AcceptCreate | None = None
) -> CaseRead:
    """签收: the unit signs for the case."""
    return await _act(state, principal, case_id, "accept", {})


@router.post(
    "/v1/cases/{case_id}/contact",
    openapi_extra=UNIT_ACCESS,
    response_model=CaseRead,
    tags=["actions"],
)
async def contact_resident(
    case_id: uuid.UUID, body: ContactCreate, principal: Caller, state: State
) -> CaseRead:
    """响应: record the first contact with the resident."""
    return await _act(state, principal, case_id, "contact", body.model_dump())


@router.post(
    "/v1/cases/{case_id}/progress",
    openapi_extra=UNIT_ACCESS,
    response_model=CaseRead,
    tags=["actions"],
)
async def record_progress(
    case_id: uuid.UUID, body: ProgressCreate, principal: Caller, state: State
) -> CaseRead:
    """A progress note."""
    return await _act(state, principal, case_id, "progress", body.model_dump())


@router.post(
    "/v1/cases/{case_id}/resolve",
    openapi_extra=UNIT_ACCESS,
    response_model=CaseRead,
    tags=["actions"],
)
async def resolve_case(
    case_id: uuid.UUID, body: ResolveCreate, principal: Caller, state: State
) -> CaseRead:
    """办结: the case is handled; the reply to the resident is required."""
    return await _act(state, principal, case_id, "resolve", body.model_dump())


@router.post(
    "/v1/cases/{case_id}/return",
    openapi_extra=UNIT_ACCESS,
    response_model=CaseRead,
    tags=["actions"],
)
async def return_case(
    case_id: uuid.UUID, body: ReturnCreate, principal: Caller, state: State
) -> CaseRead:
    """退单: not this unit's; refused after the return window (2 h after assignment)."""
    return await _act(state, principal, case_id, "return", body.model_dump())


@router.post(
    "/v1/cases/{case_id}/extension-request",
    openapi_extra=UNIT_ACCESS,
    response_model=CaseRead,
    tags=["actions"],
)
async def request_extension(
    case_id: uuid.UUID, body: ExtensionCreate, principal: Caller, state: State
) -> CaseRead:
    """延期: ask the centre for more time; refused once the resolve deadline has passed."""
    return await _act(state, principal, case_id, "extension-request", body.model_dump())


@router.post(
    "/v1/cases/{case_id}/pause-request",
    openapi_extra=UNIT_ACCESS,
    response_model=CaseRead,
    tags=["actions"],
)
async def request_pause(
    case_id: uuid.UUID, body: PauseCreate, principal: Caller, state: State
) -> CaseRead:
    """挂起: ask the centre to stop the case's clocks (until ``until``, or until resumed);
    refused while one is pending or running, and once the resolve deadline has passed."""
    return await _act(state, principal, case_id, "pause-request", body.model_dump())


@router.post(
    "/v1/cases/{case_id}/whistle",
    openapi_extra=UNIT_ACCESS,
    status_code=202,
    response_model=WhistleAccepted,
    tags=["whistle"],
)
async def blow_whistle(
    case_id: uuid.UUID, body: WhistleCreate, principal: Caller, state: State
) -> WhistleAccepted:
    """吹哨: a street office holding the case summons departments to report in by a deadline.

    Accepted (202): dispatch records the whistle, and each summoned department then finds a
    summons case in its queue.
    """
    require_roles(principal, *UNIT_ROLES)
    async with state.uow() as uow:
        await handlers.own_case(case_id, principal, uow)  # 404 before asking dispatch
    unit_kinds = await state.units.get()
    async with state.uow() as uow:
        request = await collaboration.blow_whistle(
            case_id=case_id,
            unit_ids=body.unit_ids,
            ask=body.ask,
            report_by=body.report_by,
            principal=principal,
            unit_kinds=unit_kinds,
            uow=uow,
        )
    return WhistleAccepted(
        whistle_id=request.whistle_id,
        case_id=request.case_id,
        summoned_unit_ids=list(request.summoned_unit_ids),
        report_by=request.report_by,
    )


@router.post(
    "/v1/cases/{case_id}/report-in",
    openapi_extra=UNIT_ACCESS,
    response_model=CaseRead,
    tags=["whistle"],
)
async def report_in(
    case_id: uuid.UUID, principal: Caller, state: State, body: ReportInCreate | None = None
) -> CaseRead:
    """报到: the summoned department reports in on its summons case (once)."""
    require_roles(principal, *UNIT_ROLES)
    async with state.uow() as uow:
        row = await collaboration.report_in(
            case_id=case_id, note=body.note if body else None, principal=principal, uow=uow
        )
    return case_read(row)


@router.post(
    "/v1/cases/{case_id}/caller",
    openapi_extra=UNIT_ACCESS,
    response_model=CallerRevealed,
    tags=["caller"],
)
async def reveal_caller(
    case_id: uuid.UUID, principal: Caller, state: State, body: RevealCreate | None = None
) -> CallerRevealed:
    """The resident's phone number, for staff of the unit holding the case; audited."""
    require_roles(principal, *UNIT_ROLES)
    reason = body.reason if body else None
    async with state.uow() as uow:
        case = await handlers.own_case(case_id, principal, uow)
    if case.status in ("returned", "withdrawn"):
        raise Problem.not_found(f"承办任务 / case {case_id}")

    async def record(revealed_at: datetime) -> None:
        async with state.uow() as uow:
            await uow.cases.add_reveal(
                {
                    "id": uuid.uuid4(),
                    "case_id": case.case_id,
                    "complaint_id": case.complaint_id,
                    "unit_id": case.unit_id,
                    "revealed_by": principal.subject,
                    "reason": reason,
                    "revealed_at": revealed_at,
                }
            )
            await uow.commit()

    contact = await reveal_caller_once(
        intake_url=state.settings.intake_url,
        auth=state.settings.auth,
        service="department",
        complaint_id=case.complaint_id,
        purpose=f"department:case:{case_id}",
        revealed_by=principal.subject,
        record=record,
        timeout_s=state.settings.intake_timeout_s,
    )
    return CallerRevealed(case_id=case_id, **contact)


@router.get("/v1/cases/{case_id}/caller-reveals", openapi_extra=READ_ACCESS, tags=["caller"])
async def list_reveals(case_id: uuid.UUID, principal: Caller, state: State) -> dict[str, Any]:
    """Who saw the resident's number for this case, and when."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        await handlers.own_case(case_id, principal, uow)
        rows = await uow.cases.reveals(case_id)
    return {
        "items": [RevealRead.model_validate(r._mapping).model_dump(mode="json") for r in rows],
        "next": None,
    }


def _resume_cursor(after: int | None, last_event_id: str | None) -> int | None:
    if after is not None:
        return after
    if last_event_id:
        try:
            return int(last_event_id)
        except ValueError as exc:
            raise Problem.invalid("Last-Event-ID 无效 / bad Last-Event-ID") from exc
    return None
