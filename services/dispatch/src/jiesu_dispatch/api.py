"""Dispatch's HTTP routes."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request

from jiesu_common.access import STAFF, GuardedRoute, access
from jiesu_common.auth import Staff, require_roles
from jiesu_common.http import Problem, decode_cursor, next_cursor, page
from jiesu_common.notify import mask_email, mask_phone
from jiesu_dispatch.handlers import Dispatcher, replace_rules
from jiesu_dispatch.schemas import (
    AssignmentCreate,
    AssignmentRead,
    CategoryRead,
    ConsultationCreate,
    ConsultationDecisionCreate,
    ConsultationRead,
    ConsultationStatus,
    ExtensionDecisionCreate,
    ExtensionRead,
    PositionCreate,
    QueueItem,
    ReturnDecisionCreate,
    ReturnRead,
    RulesPut,
    RulesRead,
    SuggestionsRead,
    UnitContactRead,
    UnitContactsPut,
    UnitContactsRead,
    UnitRead,
    WhistleRead,
)
from jiesu_dispatch.state import DispatchState

router = APIRouter(route_class=GuardedRoute)
DISPATCH_ROLES = ("dispatcher", "admin")
READ_ROLES = ("dispatcher", "admin", "supervisor", "operator")
READ_ACCESS = access(*READ_ROLES)
DISPATCH_ACCESS = access(*DISPATCH_ROLES)
CONSULTATION_READ_ACCESS = access(*READ_ROLES, "unit_staff")
UNIT_ACCESS = access("unit_staff")
# The directory is every staff member's, and intake and department-response read it.
DIRECTORY_ACCESS = access(*STAFF, services=("intake", "department"))
# Units' contacts: metrics sends the escalation ladder's notices (numbers in clear); admins
# and supervisors read them masked; admins change them.
CONTACTS_READ_ACCESS = access("admin", "supervisor", services=("metrics",))
CONTACTS_WRITE_ACCESS = access("admin")


async def get_state(request: Request) -> DispatchState:
    """The process state built at start-up (async: a plain ``def`` dependency would run in
    a worker thread on every request)."""
    state: DispatchState = request.app.state.dispatch
    return state


State = Annotated[DispatchState, Depends(get_state)]


Caller = Staff


@router.get("/v1/units", openapi_extra=DIRECTORY_ACCESS, tags=["directory"])
async def list_units(
    principal: Caller, state: State, kind: str | None = None, district: str | None = None
) -> dict[str, Any]:
    """The units that can be assigned cases."""
    units = [
        UnitRead(**vars(u)).model_dump()
        for u in state.dispatcher.directory.units.values()
        if (kind is None or u.kind == kind) and (district is None or u.district == district)
    ]
    return page(units, None)


@router.get(
    "/v1/units/{unit_id}/contacts",
    openapi_extra=CONTACTS_READ_ACCESS,
    response_model=UnitContactsRead,
    tags=["directory"],
)
async def get_unit_contacts(unit_id: str, principal: Caller, state: State) -> UnitContactsRead:
    """Whom to tell about a unit's cases; numbers and addresses in clear only to services."""
    if unit_id not in state.dispatcher.directory.units:
        raise Problem.not_found(f"承办单位 / unit {unit_id}")
    async with state.uow() as uow:
        rows = await uow.dispatch.unit_contacts(unit_id)
    internal = principal.service is not None
    contacts = [
        UnitContactRead(
            role=r.role,
            name=r.name,
            phone=r.phone if internal else mask_phone(r.phone),
            email=r.email if internal else mask_email(r.email),
            updated_at=r.updated_at,
        )
        for r in rows
    ]
    return UnitContactsRead(unit_id=unit_id, contacts=contacts)


@router.put(
    "/v1/units/{unit_id}/contacts",
    openapi_extra=CONTACTS_WRITE_ACCESS,
    response_model=UnitContactsRead,
    tags=["directory"],
)
async def put_unit_contacts(
    unit_id: str, body: UnitContactsPut, principal: Caller, state: State
) -> UnitContactsRead:
    """Replace a unit's contacts (one per role); the answer shows them masked."""
    if unit_id not in state.dispatcher.directory.units:
        raise Problem.not_found(f"承办单位 / unit {unit_id}")
    roles = [c.role for c in body.contacts]
    if len(set(roles)) != len(roles):
        raise Problem.invalid("每个角色只能有一位联系人 / one contact per role")
    rows = [
        {**c.model_dump(), "unit_id": unit_id, "updated_by": principal.subject}
        for c in body.contacts
    ]
    async with state.uow() as uow:
        await uow.dispatch.replace_unit_contacts(unit_id, rows)
        await uow.commit()
    return await get_unit_contacts(unit_id, principal, state)


@router.get("/v1/categories", openapi_extra=DIRECTORY_ACCESS, tags=["directory"])
async def list_categories(principal: Caller, state: State) -> dict[str, Any]:
    """Complaint categories: SLA class, keywords, extra questions and effective clocks."""
    dispatcher = state.dispatcher
    items = [
        CategoryRead.model_validate(
            asdict(c) | {"clocks": asdict(dispatcher.clocks_of(c.sla_class, c.code))}
        ).model_dump()
        for c in dispatcher.directory.categories.values()
    ]
    return page(items, None)


@router.get(
    "/v1/routing-rules", openapi_extra=READ_ACCESS, response_model=RulesRead, tags=["routing"]
)
async def get_rules(
    principal: Caller, state: State, version: Annotated[int | None, Query(ge=1)] = None
) -> RulesRead:
    """The current routing rules (or an older version)."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        row = await (
            uow.dispatch.rules_version(version) if version else uow.dispatch.current_rules()
        )
    if row is None:
        raise Problem.not_found(f"规则版本 / routing rules version {version}")
    return RulesRead(**row._mapping)


@router.get("/v1/routing-rules/versions", openapi_extra=READ_ACCESS, tags=["routing"])
async def rule_versions(principal: Caller, state: State) -> dict[str, Any]:
    """Every version of the rules: who changed them, when, why."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        rows = await uow.dispatch.rule_history()
    return page([dict(r._mapping) for r in rows], None)


@router.put(
    "/v1/routing-rules", openapi_extra=DISPATCH_ACCESS, response_model=RulesRead, tags=["routing"]
)
async def put_rules(
    body: RulesPut,
    principal: Caller,
    state: State,
    if_match: Annotated[str | None, Header()] = None,
) -> RulesRead:
    """Replace the rules with a new version (the old ones stay in the history)."""
    require_roles(principal, *DISPATCH_ROLES)
    expected = _parse_if_match(if_match)
    async with state.uow() as uow:
        row = await replace_rules(
            rules=[r.model_dump() for r in body.rules],
            note=body.note,
            expected_version=expected,
            author=principal.subject,
            directory=state.dispatcher.directory,
            uow=uow,
        )
    state.dispatcher.forget_rules()
    return RulesRead(**row._mapping)


def _parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip().strip('"').removeprefix("W/").strip('"'))
    except ValueError as exc:
        raise Problem(400, "bad-if-match", "If-Match 无效 / bad If-Match", value) from exc


@router.get("/v1/dispatch-queue", openapi_extra=READ_ACCESS, tags=["queue"])
async def dispatch_queue(
    principal: Caller,
    state: State,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Complaints waiting for a human dispatcher, oldest first."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        rows = await uow.dispatch.queue_page(after=decode_cursor(cursor), limit=limit)
    items = [QueueItem(**r._mapping).model_dump(mode="json") for r in rows[:limit]]
    nxt = next_cursor(rows, limit, "queued_at", "complaint_id")
    return page(items, nxt)


@router.get(
    "/v1/complaints/{complaint_id}/suggestions",
    openapi_extra=READ_ACCESS,
    response_model=SuggestionsRead,
    tags=["queue"],
)
async def suggestions(complaint_id: uuid.UUID, principal: Caller, state: State) -> SuggestionsRead:
    """The classifier's top categories with their confidence and, for each, the routing
    rule that would apply to this complaint (or why none does): the dispatcher's hints."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        found = await state.dispatcher.suggest(complaint_id, uow=uow)
    return SuggestionsRead.model_validate(found)


@router.post(
    "/v1/complaints/{complaint_id}/assignments",
    openapi_extra=DISPATCH_ACCESS,
    status_code=201,
    response_model=AssignmentRead,
    tags=["queue"],
)
async def post_assignment(
    complaint_id: uuid.UUID, body: AssignmentCreate, principal: Caller, state: State
) -> AssignmentRead:
    """Assign (or reassign) a complaint by hand; opens a new round."""
    require_roles(principal, *DISPATCH_ROLES)
    dispatcher: Dispatcher = state.dispatcher
    async with state.uow() as uow:
        assigned = await dispatcher.assign_manually(
            complaint_id=complaint_id,
            lead_unit_id=body.lead_unit_id,
            co_unit_ids=tuple(body.co_unit_ids),
            category_code=body.category_code,
            note=body.note,
            dispatcher=principal.subject,
            uow=uow,
        )
    return AssignmentRead(
        assignment_id=assigned.assignment_id,
        complaint_id=assigned.complaint_id,
        round=assigned.round,
        lead_unit_id=assigned.lead_unit_id,
        co_unit_ids=list(assigned.co_unit_ids),
        category_code=assigned.category_code,
        sla_class=assigned.sla_class,
        mode=assigned.mode,
        deadlines=assigned.deadlines.model_dump(mode="json"),
        assigned_at=assigned.assigned_at,
    )


# --- the loop back: returns and extensions -----------------------------------------------------


@router.get("/v1/returns", openapi_extra=READ_ACCESS, tags=["returns"])
async def list_returns(
    principal: Caller,
    state: State,
    status: Literal["pending", "approved", "rejected", "consultation"] | None = "pending",
    complaint_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The return-review queue (退单审核), oldest first; ``status`` defaults to pending."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        rows = await uow.dispatch.requests_page(
            "returns",
            status=status,
            complaint_id=complaint_id,
            after=decode_cursor(cursor),
            limit=limit,
        )
    items = [ReturnRead.model_validate(r._mapping).model_dump(mode="json") for r in rows[:limit]]
    nxt = next_cursor(rows, limit, "returned_at", "return_id")
    return page(items, nxt)


@router.post(
    "/v1/returns/{return_id}/decision",
    openapi_extra=DISPATCH_ACCESS,
    response_model=ReturnRead,
    tags=["returns"],
)
async def decide_return(
    return_id: uuid.UUID, body: ReturnDecisionCreate, principal: Caller, state: State
) -> ReturnRead:
    """Approve (re-route without the returning unit, or to the district government) or reject."""
    require_roles(principal, *DISPATCH_ROLES)
    if body.decision == "reject" and (body.lead_unit_id or body.co_unit_ids):
        raise Problem.invalid("驳回时不能指定新单位 / a rejection names no new unit")
    async with state.uow() as uow:
        row = await state.loopback.decide_return(
            return_id=return_id,
            approve=body.decision == "approve",
            note=body.note,
            lead_unit_id=body.lead_unit_id,
            co_unit_ids=tuple(body.co_unit_ids),
            decided_by=principal.subject,
            uow=uow,
        )
    return ReturnRead.model_validate(row._mapping)


@router.get("/v1/extensions", openapi_extra=READ_ACCESS, tags=["extensions"])
async def list_extensions(
    principal: Caller,
    state: State,
    status: Literal["pending", "granted", "denied"] | None = "pending",
    complaint_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Extension requests (延期审批), oldest first; ``status`` defaults to pending."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        rows = await uow.dispatch.requests_page(
            "extensions",
            status=status,
            complaint_id=complaint_id,
            after=decode_cursor(cursor),
            limit=limit,
        )
    items = [ExtensionRead.model_validate(r._mapping).model_dump(mode="json") for r in rows[:limit]]
    nxt = next_cursor(rows, limit, "requested_at", "extension_id")
    return page(items, nxt)


@router.post(
    "/v1/extensions/{extension_id}/decision",
    openapi_extra=DISPATCH_ACCESS,
    response_model=ExtensionRead,
    tags=["extensions"],
)
async def decide_extension(
    extension_id: uuid.UUID, body: ExtensionDecisionCreate, principal: Caller, state: State
) -> ExtensionRead:
    """Grant (moves the resolve deadline) or deny an extension."""
    require_roles(principal, *DISPATCH_ROLES)
    if body.decision == "deny" and body.resolve_by is not None:
        raise Problem.invalid("拒绝时不能指定时限 / a denial sets no resolve_by")
    async with state.uow() as uow:
        row = await state.loopback.decide_extension(
            extension_id=extension_id,
            grant=body.decision == "grant",
            note=body.note,
            resolve_by=body.resolve_by,
            decided_by=principal.subject,
            uow=uow,
        )
    return ExtensionRead.model_validate(row._mapping)


# --- joint consultation (会商) ---------------------------------------------------------------


@router.post(
    "/v1/consultations",
    openapi_extra=DISPATCH_ACCESS,
    status_code=201,
    response_model=ConsultationRead,
    tags=["consultations"],
)
async def open_consultation(
    body: ConsultationCreate, principal: Caller, state: State
) -> ConsultationRead:
    """Convene units to decide together who leads (会商); due in 4 working hours by default."""
    require_roles(principal, *DISPATCH_ROLES)
    async with state.uow() as uow:
        item = await state.consultations.open_by_hand(
            complaint_id=body.complaint_id,
            participants=tuple(body.participants),
            reason=body.reason,
            deadline=body.deadline,
            opened_by=principal.subject,
            uow=uow,
        )
    return ConsultationRead.model_validate(item)


@router.get("/v1/consultations", openapi_extra=CONSULTATION_READ_ACCESS, tags=["consultations"])
async def list_consultations(
    principal: Caller,
    state: State,
    status: ConsultationStatus | None = None,
    complaint_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Consultations, oldest first; a unit's staff see only those their unit is invited to."""
    require_roles(principal, *READ_ROLES, "unit_staff")
    unit = principal.unit_id if principal.role == "unit_staff" else None
    async with state.uow() as uow:
        rows = await uow.consultations.page(
            status=status,
            complaint_id=complaint_id,
            unit_id=unit,
            after=decode_cursor(cursor),
            limit=limit,
        )
        items = await state.consultations.with_positions(rows[:limit], uow=uow)
    nxt = next_cursor(rows, limit, "opened_at", "consultation_id")
    return page([ConsultationRead.model_validate(i).model_dump(mode="json") for i in items], nxt)


@router.get(
    "/v1/consultations/{consultation_id}",
    openapi_extra=CONSULTATION_READ_ACCESS,
    response_model=ConsultationRead,
    tags=["consultations"],
)
async def get_consultation(
    consultation_id: uuid.UUID, principal: Caller, state: State
) -> ConsultationRead:
    """One consultation with its positions (404 for a unit not invited)."""
    require_roles(principal, *READ_ROLES, "unit_staff")
    async with state.uow() as uow:
        await state.consultations.visible(consultation_id, principal, uow)
        item = await state.consultations.read(consultation_id, uow=uow)
    return ConsultationRead.model_validate(item)


@router.post(
    "/v1/consultations/{consultation_id}/positions",
    openapi_extra=UNIT_ACCESS,
    status_code=201,
    response_model=ConsultationRead,
    tags=["consultations"],
)
async def post_position(
    consultation_id: uuid.UUID, body: PositionCreate, principal: Caller, state: State
) -> ConsultationRead:
    """A participant's position: lead, co_handle or not_ours, with a reason (latest counts)."""
    require_roles(principal, "unit_staff")
    async with state.uow() as uow:
        item = await state.consultations.take_position(
            consultation_id=consultation_id,
            principal=principal,
            position=body.position,
            reason=body.reason,
            uow=uow,
        )
    return ConsultationRead.model_validate(item)


@router.post(
    "/v1/consultations/{consultation_id}/decision",
    openapi_extra=DISPATCH_ACCESS,
    response_model=ConsultationRead,
    tags=["consultations"],
)
async def decide_consultation(
    consultation_id: uuid.UUID, body: ConsultationDecisionCreate, principal: Caller, state: State
) -> ConsultationRead:
    """The dispatcher's decision: assigns the next round (mode consultation) to the lead."""
    require_roles(principal, *DISPATCH_ROLES)
    async with state.uow() as uow:
        item = await state.consultations.decide(
            consultation_id=consultation_id,
            lead_unit_id=body.lead_unit_id,
            co_unit_ids=tuple(body.co_unit_ids),
            note=body.note,
            category_code=body.category_code,
            decided_by=principal.subject,
            uow=uow,
        )
    return ConsultationRead.model_validate(item)


@router.get("/v1/whistles", openapi_extra=READ_ACCESS, tags=["whistles"])
async def list_whistles(
    principal: Caller,
    state: State,
    complaint_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Whistles (吹哨) blown by street offices, the latest first; whether each summoned
    department reported in is on metrics' clocks (``report_in``) and on its summons case."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        rows = await uow.consultations.whistles_page(
            complaint_id=complaint_id, after=decode_cursor(cursor), limit=limit
        )
    items = [WhistleRead.model_validate(r._mapping).model_dump(mode="json") for r in rows[:limit]]
    nxt = next_cursor(rows, limit, "blown_at", "whistle_id")
    return page(items, nxt)


# The places and their GeoJSON, for maps (jiesu_dispatch.places).
from jiesu_dispatch.places import router as places_router  # noqa: E402

router.include_router(places_router)
