"""Dispatch's HTTP routes of the centre's decisions on pauses (挂起审批) and on replies to
review (答复审核), and the city's reply-review policy."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from jiesu_common.access import GuardedRoute, access
from jiesu_common.auth import require_roles
from jiesu_common.http import Problem, decode_cursor, next_cursor, page
from jiesu_dispatch.api import (
    DISPATCH_ACCESS,
    DISPATCH_ROLES,
    READ_ACCESS,
    READ_ROLES,
    Caller,
    State,
)
from jiesu_dispatch.schemas import (
    PauseDecisionCreate,
    PauseRead,
    PauseResumeCreate,
    ReplyDecisionCreate,
    ReplyReviewPolicy,
    ReplyReviewRead,
)

router = APIRouter(route_class=GuardedRoute)


# --- pauses (挂起) ---------------------------------------------------------------------------

PAUSE_RESUME_ACCESS = access(*DISPATCH_ROLES, "unit_staff")


@router.get("/v1/pauses", openapi_extra=access(*READ_ROLES, "unit_staff"), tags=["pauses"])
async def list_pauses(
    principal: Caller,
    state: State,
    status: Literal["pending", "granted", "denied", "ended"] | None = "pending",
    complaint_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Pause requests (挂起审批), oldest first; ``status`` defaults to pending. Unit staff see
    their own unit's."""
    require_roles(principal, *READ_ROLES, "unit_staff")
    async with state.uow() as uow:
        rows = await uow.dispatch.requests_page(
            "pauses",
            status=status,
            complaint_id=complaint_id,
            after=decode_cursor(cursor),
            limit=limit,
            unit_id=principal.unit_id if principal.role == "unit_staff" else None,
        )
    items = [PauseRead.model_validate(r._mapping).model_dump(mode="json") for r in rows[:limit]]
    nxt = next_cursor(rows, limit, "requested_at", "pause_id")
    return page(items, nxt)


@router.post(
    "/v1/pauses/{pause_id}/decision",
    openapi_extra=DISPATCH_ACCESS,
    response_model=PauseRead,
    tags=["pauses"],
)
async def decide_pause(
    pause_id: uuid.UUID, body: PauseDecisionCreate, principal: Caller, state: State
) -> PauseRead:
    """Grant (the case's clocks stop now, until ``until`` or until resumed) or deny a pause."""
    require_roles(principal, *DISPATCH_ROLES)
    if body.decision == "deny" and body.until is not None:
        raise Problem.invalid("拒绝时不能指定恢复日期 / a denial sets no until")
    async with state.uow() as uow:
        row = await state.case_requests.decide_pause(
            pause_id=pause_id,
            grant=body.decision == "grant",
            note=body.note,
            until=body.until,
            decided_by=principal.subject,
            uow=uow,
        )
    return PauseRead.model_validate(row._mapping)


@router.post(
    "/v1/pauses/{pause_id}/resume",
    openapi_extra=PAUSE_RESUME_ACCESS,
    response_model=PauseRead,
    tags=["pauses"],
)
async def resume_pause(
    pause_id: uuid.UUID, principal: Caller, state: State, body: PauseResumeCreate | None = None
) -> PauseRead:
    """Resume by action: the clocks run again from now (the centre, or the paused unit)."""
    require_roles(principal, *DISPATCH_ROLES, "unit_staff")
    async with state.uow() as uow:
        row = await state.case_requests.end_pause(
            pause_id=pause_id, note=body.note if body else None, principal=principal, uow=uow
        )
    return PauseRead.model_validate(row._mapping)


# --- reply review (答复审核) -------------------------------------------------------------------


@router.get(
    "/v1/reply-review-policy",
    openapi_extra=READ_ACCESS,
    response_model=ReplyReviewPolicy,
    tags=["reply review"],
)
async def get_reply_review_policy(principal: Caller, state: State) -> ReplyReviewPolicy:
    """The categories and units whose replies the centre reviews."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        pairs = await uow.dispatch.reply_review_policy()
    return ReplyReviewPolicy(
        category_codes=[c for s, c in pairs if s == "category"],
        unit_ids=[c for s, c in pairs if s == "unit"],
    )


@router.put(
    "/v1/reply-review-policy",
    openapi_extra=DISPATCH_ACCESS,
    response_model=ReplyReviewPolicy,
    tags=["reply review"],
)
async def put_reply_review_policy(
    body: ReplyReviewPolicy, principal: Caller, state: State
) -> ReplyReviewPolicy:
    """Replace the policy; assignments from now on carry it (cases already open keep theirs)."""
    require_roles(principal, *DISPATCH_ROLES)
    directory = state.dispatcher.directory
    unknown = [c for c in body.category_codes if c not in directory.categories]
    unknown += [u for u in body.unit_ids if u not in directory.units]
    if unknown:
        raise Problem.invalid(f"未知类别或单位 / unknown category or unit: {', '.join(unknown)}")
    pairs = sorted(
        {("category", c) for c in body.category_codes} | {("unit", u) for u in body.unit_ids}
    )
    async with state.uow() as uow:
        await uow.dispatch.replace_reply_review_policy(pairs, updated_by=principal.subject)
        await uow.commit()
    state.dispatcher.forget_rules()
    return ReplyReviewPolicy(
        category_codes=[c for s, c in pairs if s == "category"],
        unit_ids=[c for s, c in pairs if s == "unit"],
    )


@router.get(
    "/v1/reply-reviews", openapi_extra=access(*READ_ROLES, "unit_staff"), tags=["reply review"]
)
async def list_reply_reviews(
    principal: Caller,
    state: State,
    status: Literal["pending", "approved", "sent_back"] | None = "pending",
    complaint_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Replies waiting for the centre's review (答复审核), oldest first; ``status`` defaults to
    pending. Unit staff see their own unit's."""
    require_roles(principal, *READ_ROLES, "unit_staff")
    async with state.uow() as uow:
        rows = await uow.dispatch.requests_page(
            "reply_reviews",
            status=status,
            complaint_id=complaint_id,
            after=decode_cursor(cursor),
            limit=limit,
            unit_id=principal.unit_id if principal.role == "unit_staff" else None,
        )
    items = [
        ReplyReviewRead.model_validate(r._mapping).model_dump(mode="json") for r in rows[:limit]
    ]
    nxt = next_cursor(rows, limit, "requested_at", "reply_review_id")
    return page(items, nxt)


@router.post(
    "/v1/reply-reviews/{reply_review_id}/decision",
    openapi_extra=DISPATCH_ACCESS,
    response_model=ReplyReviewRead,
    tags=["reply review"],
)
async def decide_reply(
    reply_review_id: uuid.UUID, body: ReplyDecisionCreate, principal: Caller, state: State
) -> ReplyReviewRead:
    """Approve the reply (the case counts as resolved from now) or send it back with a note
    (the case stays open and its resolve clock keeps running)."""
    require_roles(principal, *DISPATCH_ROLES)
    if body.decision == "send_back" and not body.note:
        raise Problem.invalid("退回答复须说明原因 / sending a reply back needs a note")
    async with state.uow() as uow:
        row = await state.case_requests.decide_reply(
            reply_review_id=reply_review_id,
            approve=body.decision == "approve",
            note=body.note,
            decided_by=principal.subject,
            uow=uow,
        )
    return ReplyReviewRead.model_validate(row._mapping)
