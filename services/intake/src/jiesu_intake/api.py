"""Intake's HTTP routes: thin, calling the service layer in ``handlers``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from jiesu_common.access import GuardedRoute, access, authenticate
from jiesu_common.auth import Principal, require_roles
from jiesu_common.http import Problem
from jiesu_intake import api_keys, handlers, merges
from jiesu_intake.handlers import FileComplaint
from jiesu_intake.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ApiKeyRead,
    ApiKeyRotate,
    CallerOut,
    ComplaintCreate,
    ComplaintCreated,
    ComplaintPage,
    ComplaintRead,
    MergeRequest,
    TimelineEntry,
    UnmergeRequest,
    WithdrawRequest,
)
from jiesu_intake.state import IntakeState


async def refuse_nul(request: Request) -> None:
    """PostgreSQL text cannot hold NUL: refuse it in the path and query, not fail with 500."""
    values = [
        *request.path_params.values(),
        *(v for kv in request.query_params.multi_items() for v in kv),
    ]
    if any("\x00" in str(v) for v in values):
        raise Problem(
            400,
            "invalid-characters",
            "请求含无效字符 / Invalid characters",
            "参数中不能含 NUL 字符 / parameters must not contain NUL characters",
        )


router = APIRouter(route_class=GuardedRoute, dependencies=[Depends(refuse_nul)])
STAFF_READERS = ("operator", "dispatcher", "supervisor", "admin", "reviewer")
# Third-party apps (by API key) file, read and withdraw their own complaints.
FILE_ACCESS = access("operator", "admin", apps=True)
# Filing also admits supervisors (hot spots turned into cases) and grid workers (patrols).
FILING_ACCESS = access("operator", "admin", "supervisor", "grid_worker", apps=True)
# Grid workers read only what they filed themselves (as an app reads only its own).
READ_ACCESS = access(*STAFF_READERS, "grid_worker", apps=True)
ADMIN_ACCESS = access("admin")


async def get_state(request: Request) -> IntakeState:
    """The process state built at start-up (async: a plain ``def`` dependency would run in
    a worker thread on every request)."""
    state: IntakeState = request.app.state.intake
    return state


State = Annotated[IntakeState, Depends(get_state)]


async def get_principal(request: Request) -> Principal:
    """A staff member by JWT, or a third-party app by ``X-API-Key`` (checked once per request)."""
    return await authenticate(request, apps=True)


async def authenticate_app(request: Request, key: str) -> Principal:
    """The app of an ``X-API-Key`` (the guard's hook, see ``jiesu_common.access``)."""
    return await app_principal(request.app.state.intake, key)


async def app_principal(state: IntakeState, key: str) -> Principal:
    """A third-party app by API key, counted against the key's rate limit."""
    async with state.uow() as uow:
        return await api_keys.admit_app(
            key, uow=uow, default_rate=state.settings.api_keys.default_rate_per_minute
        )


Caller = Annotated[Principal, Depends(get_principal)]


@router.post(
    "/v1/complaints",
    openapi_extra=FILING_ACCESS,
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
    """File a complaint (operators, or third-party apps by API key); supervisors turn a hot
    spot into a case, grid workers file their patrol finds (未诉先办)."""
    if not principal.is_app:
        require_roles(principal, "operator", "admin", "supervisor", "grid_worker")
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


@router.get(
    "/v1/complaints/{complaint_id}",
    openapi_extra=READ_ACCESS,
    response_model=ComplaintRead,
    tags=["complaints"],
)
async def get_complaint(complaint_id: uuid.UUID, principal: Caller, state: State) -> ComplaintRead:
    """One complaint with its status and timeline."""
    _may_read(principal)
    async with state.uow() as uow:
        row = await uow.complaints.get(complaint_id)
        if row is None or not _sees(principal, row):
            raise Problem.not_found(f"诉求 / complaint {complaint_id}")
        timeline = await uow.complaints.timeline_of(complaint_id)
    read = to_read(row)
    read.timeline = [
        TimelineEntry(event_type=t.event_type, at=t.at, round=t.round, detail=t.detail)
        for t in timeline
    ]
    return read


@router.get(
    "/v1/complaints", openapi_extra=READ_ACCESS, response_model=ComplaintPage, tags=["complaints"]
)
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
        "created_by": principal.subject if principal.role == "grid_worker" else None,
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
    "/v1/complaints/{complaint_id}/withdraw",
    openapi_extra=FILE_ACCESS,
    response_model=ComplaintRead,
    tags=["complaints"],
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


MERGE_ACCESS = access("operator", "dispatcher", "admin")


@router.post(
    "/v1/complaints/{complaint_id}/merge",
    openapi_extra=MERGE_ACCESS,
    response_model=ComplaintRead,
    tags=["complaints"],
)
async def post_merge(
    complaint_id: uuid.UUID, body: MergeRequest, principal: Caller, state: State
) -> ComplaintRead:
    """合并: an operator or dispatcher links a duplicate to its master by hand; it closes with
    the master, and its resident is told. Refused for a complaint that is not open, into
    itself, into a master that is over, or for a complaint that is itself a master."""
    require_roles(principal, "operator", "dispatcher", "admin")
    async with state.uow() as uow:
        row = await merges.merge_complaint(
            complaint_id=complaint_id,
            master_id=body.master_id,
            note=body.note,
            principal=principal,
            uow=uow,
        )
    return to_read(row)


@router.post(
    "/v1/complaints/{complaint_id}/unmerge",
    openapi_extra=MERGE_ACCESS,
    response_model=ComplaintRead,
    tags=["complaints"],
)
async def post_unmerge(
    complaint_id: uuid.UUID, body: UnmergeRequest, principal: Caller, state: State
) -> ComplaintRead:
    """撤销合并: the complaint stands on its own again and is routed anew."""
    require_roles(principal, "operator", "dispatcher", "admin")
    async with state.uow() as uow:
        row = await merges.unmerge_complaint(
            complaint_id=complaint_id, note=body.note, principal=principal, uow=uow
        )
    return to_read(row)


@router.post(
    "/v1/api-keys",
    openapi_extra=ADMIN_ACCESS,
    status_code=201,
    response_model=ApiKeyCreated,
    tags=["admin"],
)
async def post_api_key(body: ApiKeyCreate, principal: Caller, state: State) -> ApiKeyCreated:
    """Issue an API key for a third-party app (admin); the key is shown only here."""
    require_roles(principal, "admin")
    async with state.uow() as uow:
        issued = await api_keys.create_api_key(
            app_id=body.app_id, name=body.name, rate_limit=body.rate_limit_per_minute, uow=uow
        )
    return _created(issued, state)


@router.get("/v1/api-keys", openapi_extra=ADMIN_ACCESS, response_model=ApiKeyPage, tags=["admin"])
async def list_api_keys(
    principal: Caller,
    state: State,
    app_id: Annotated[str | None, Query(max_length=64)] = None,
) -> ApiKeyPage:
    """Every key (admin), newest first: prefix, limit, last use, revocation; never the key."""
    require_roles(principal, "admin")
    async with state.uow() as uow:
        rows = await uow.api_keys.list(app_id=app_id)
    return ApiKeyPage(items=[_key_read(r, state) for r in rows])


@router.post(
    "/v1/api-keys/{key_id}/rotate",
    openapi_extra=ADMIN_ACCESS,
    status_code=201,
    response_model=ApiKeyCreated,
    tags=["admin"],
)
async def rotate_api_key(
    key_id: uuid.UUID, principal: Caller, state: State, body: ApiKeyRotate | None = None
) -> ApiKeyCreated:
    """Replace a key (admin): the new key is shown once; the old one stops after the grace."""
    require_roles(principal, "admin")
    grace = timedelta(minutes=body.grace_minutes if body else 0)
    async with state.uow() as uow:
        issued = await api_keys.rotate_api_key(key_id=key_id, grace=grace, uow=uow)
    return _created(issued, state)


@router.post(
    "/v1/api-keys/{key_id}/revoke",
    openapi_extra=ADMIN_ACCESS,
    response_model=ApiKeyRead,
    tags=["admin"],
)
async def revoke_api_key(key_id: uuid.UUID, principal: Caller, state: State) -> ApiKeyRead:
    """Stop a key now (admin)."""
    require_roles(principal, "admin")
    async with state.uow() as uow:
        row = await api_keys.revoke_api_key(key_id=key_id, uow=uow)
    return _key_read(row, state)


def _created(issued: api_keys.IssuedKey, state: IntakeState) -> ApiKeyCreated:
    row = issued.row
    return ApiKeyCreated(
        id=row.id,
        app_id=row.app_id,
        name=row.name,
        api_key=issued.key,
        prefix=row.prefix,
        rate_limit_per_minute=_rate_of(row, state),
    )


def _key_read(row: Any, state: IntakeState) -> ApiKeyRead:
    return ApiKeyRead(
        id=row.id,
        app_id=row.app_id,
        name=row.name,
        prefix=row.prefix,
        rate_limit_per_minute=_rate_of(row, state),
        active=api_keys.is_active(row, datetime.now(UTC)),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        replaced_by=row.replaced_by,
    )


def _rate_of(row: Any, state: IntakeState) -> int:
    rate: int = row.rate_limit_per_minute or state.settings.api_keys.default_rate_per_minute
    return rate


def _may_file(principal: Principal) -> None:
    """Operators (and admins) file and withdraw; an app may for its own complaints."""
    if not principal.is_app:
        require_roles(principal, "operator", "admin")


def _may_read(principal: Principal) -> None:
    if not principal.is_app:
        require_roles(principal, *STAFF_READERS, "grid_worker")


def _sees(principal: Principal, row: Any) -> bool:
    """An app sees its own complaints, a grid worker their own filings, staff all."""
    if principal.is_app:
        return bool(row.app_id == principal.app_id)
    return principal.role != "grid_worker" or row.created_by == principal.subject


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
            email=row.caller_email_masked,
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
        attributes=dict(row.attributes),
        external_ref=row.external_ref,
        duplicate_of=row.duplicate_of,
        lead_unit_id=row.lead_unit_id,
        resolve_by=row.resolve_by,
        article_id=row.article_id,
        article_version=row.article_version,
        proactive=row.proactive,
        hotspot_key=row.hotspot_key,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
