"""Intake's HTTP routes: thin, calling the service layer in ``handlers``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from jiesu_common.auth import Principal, bearer_principal, require_roles
from jiesu_common.http import Problem
from jiesu_intake import handlers
from jiesu_intake.handlers import FileComplaint
from jiesu_intake.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    CallerOut,
    ComplaintCreate,
    ComplaintCreated,
    ComplaintPage,
    ComplaintRead,
    TimelineEntry,
    WithdrawRequest,
)
from jiesu_intake.state import IntakeState

router = APIRouter()
STAFF_READERS = ("operator", "dispatcher", "supervisor", "admin", "reviewer")


def get_state(request: Request) -> IntakeState:
    """The process state built at start-up."""
    state: IntakeState = request.app.state.intake
    return state


State = Annotated[IntakeState, Depends(get_state)]


async def get_principal(request: Request, state: State) -> Principal:
    """A staff member by JWT, or a third-party app by ``X-API-Key``."""
    principal = bearer_principal(state.settings.auth, request)
    if principal is not None:
        return principal
    key = request.headers.get("x-api-key")
    if key:
        async with state.uow() as uow:
            app_id = await uow.api_keys.app_for(handlers.hash_api_key(key))
        if app_id is None:
            raise Problem.unauthorized("API 密钥无效或已吊销 / unknown or revoked API key")
        return Principal(subject=f"app:{app_id}", role="app", app_id=app_id)
    raise Problem.unauthorized("需要 Bearer 令牌或 X-API-Key / credentials required")


Caller = Annotated[Principal, Depends(get_principal)]


@router.post(
    "/v1/complaints",
    status_code=201,
    response_model=ComplaintCreated,
    responses={200: {"model": ComplaintCreated, "description": "replayed idempotent request"}},
    tags=["complaints"],
)
async def post_complaint(
    body: ComplaintCreate,
    principal: Caller,
    state: State,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> ComplaintCreated:
    """File a complaint (operators, or third-party apps by API key)."""
    _may_file(principal)
    async with state.uow() as uow:
        filed = await handlers.file_complaint(
            FileComplaint(body=body, principal=principal, idempotency_key=idempotency_key),
            uow=uow,
            vault=state.vault,
            settings=state.settings,
        )
    response.headers["Location"] = f"/v1/complaints/{filed.answer.complaint_id}"
    if filed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return filed.answer


@router.get("/v1/complaints/{complaint_id}", response_model=ComplaintRead, tags=["complaints"])
async def get_complaint(complaint_id: uuid.UUID, principal: Caller, state: State) -> ComplaintRead:
    """One complaint with its status and timeline."""
    _may_read(principal)
    async with state.uow() as uow:
        row = await uow.complaints.get(complaint_id)
        if row is None or (principal.is_app and row.app_id != principal.app_id):
            raise Problem.not_found(f"诉求 / complaint {complaint_id}")
        timeline = await uow.complaints.timeline_of(complaint_id)
    read = to_read(row)
    read.timeline = [
        TimelineEntry(event_type=t.event_type, at=t.at, round=t.round, detail=t.detail)
        for t in timeline
    ]
    return read


@router.get("/v1/complaints", response_model=ComplaintPage, tags=["complaints"])
async def list_complaints(
    principal: Caller,
    state: State,
    status: str | None = None,
    kind: str | None = None,
    channel: str | None = None,
    category_code: str | None = None,
    ticket_no: str | None = None,
    lead_unit_id: str | None = None,
    caller_phone: Annotated[str | None, Query(max_length=32, description="来电号码")] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ComplaintPage:
    """Complaints, newest first, filtered and paginated by cursor."""
    _may_read(principal)
    if caller_phone is not None and principal.is_app:
        raise Problem.forbidden("第三方应用不能按来电号码查询 / apps cannot search by phone")
    filters: dict[str, Any] = {
        "status": status,
        "kind": kind,
        "channel": channel,
        "category_code": category_code,
        "ticket_no": ticket_no,
        "lead_unit_id": lead_unit_id,
        "created_from": created_from,
        "created_to": created_to,
        "caller_phone_hash": state.vault.phone_hash(caller_phone) if caller_phone else None,
    }
    async with state.uow() as uow:
        try:
            rows, nxt = await uow.complaints.list(
                filters=filters, cursor=cursor, limit=limit, app_id=principal.app_id
            )
        except ValueError as exc:
            raise Problem(400, "invalid-cursor", "分页游标无效 / invalid cursor", str(exc)) from exc
    return ComplaintPage(items=[to_read(r) for r in rows], next=nxt)


@router.post(
    "/v1/complaints/{complaint_id}/withdraw", response_model=ComplaintRead, tags=["complaints"]
)
async def post_withdraw(
    complaint_id: uuid.UUID, body: WithdrawRequest, principal: Caller, state: State
) -> ComplaintRead:
    """Withdraw a complaint at the resident's request (operators, or the filing app)."""
    _may_file(principal)
    async with state.uow() as uow:
        row = await handlers.withdraw_complaint(
            complaint_id=complaint_id, reason=body.reason, principal=principal, uow=uow
        )
    return to_read(row)


@router.post("/v1/api-keys", status_code=201, response_model=ApiKeyCreated, tags=["admin"])
async def post_api_key(body: ApiKeyCreate, principal: Caller, state: State) -> ApiKeyCreated:
    """Issue an API key for a third-party app (admin); the key is shown only here."""
    require_roles(principal, "admin")
    async with state.uow() as uow:
        key_id, key = await handlers.create_api_key(app_id=body.app_id, name=body.name, uow=uow)
    return ApiKeyCreated(id=key_id, app_id=body.app_id, name=body.name, api_key=key)


def _may_file(principal: Principal) -> None:
    """Operators (and admins) file and withdraw; an app may for its own complaints."""
    if not principal.is_app:
        require_roles(principal, "operator", "admin")


def _may_read(principal: Principal) -> None:
    if not principal.is_app:
        require_roles(principal, *STAFF_READERS)


def to_read(row: Any) -> ComplaintRead:
    """A complaint row as the API shows it (masked caller)."""
    return ComplaintRead(
        complaint_id=row.id,
        ticket_no=row.ticket_no,
        status=row.status,
        round=row.status_round,
        channel=row.channel,
        kind=row.kind,
        urgency=row.urgency,
        title=row.title,
        content=row.content,
        category_code=row.category_code or row.category_resolved,
        caller=CallerOut(
            name=row.caller_name_masked,
            phone=row.caller_phone_masked,
            anonymous=row.anonymous,
            confidential=row.confidential,
        ),
        location={
            "address": row.address,
            "lat": row.lat,
            "lon": row.lon,
            "grid_code": row.grid_code,
        },
        attachments=list(row.attachments),
        external_ref=row.external_ref,
        duplicate_of=row.duplicate_of,
        lead_unit_id=row.lead_unit_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
