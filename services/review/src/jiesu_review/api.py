"""callback-review's HTTP routes: the reviewers' list and recording a callback."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from jiesu_common.access import GuardedRoute, access
from jiesu_common.auth import Staff, require_roles
from jiesu_common.caller import RevealCreate
from jiesu_common.caller import reveal_caller as reveal_caller_once
from jiesu_common.http import Problem, decode_cursor, next_cursor
from jiesu_review.handlers import complete_review
from jiesu_review.schemas import (
    CallerRevealed,
    RevealRead,
    ReviewCreate,
    ReviewPage,
    ReviewRead,
    SelfReviewLinkIssued,
    SelfReviewLinkRead,
)
from jiesu_review.self_review import issue_link
from jiesu_review.state import ReviewState

router = APIRouter(
    route_class=GuardedRoute,
)
REVIEW_ROLES = ("reviewer", "admin")
READ_ROLES = ("reviewer", "supervisor", "admin", "operator")
READ_ACCESS = access(*READ_ROLES)
REVIEW_ACCESS = access(*REVIEW_ROLES)


async def get_state(request: Request) -> ReviewState:
    """The process state built at start-up (async: a plain ``def`` dependency would run in
    a worker thread on every request)."""
    state: ReviewState = request.app.state.review
    return state


State = Annotated[ReviewState, Depends(get_state)]


Caller = Staff


@router.get("/v1/reviews", openapi_extra=READ_ACCESS, response_model=ReviewPage, tags=["reviews"])
async def list_reviews(
    principal: Caller,
    state: State,
    status: Literal["pending", "completed", "cancelled"] | None = None,
    due: Annotated[bool, Query(description="only reviews already due")] = False,
    complaint_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReviewPage:
    """Reviews by due time; ``status=pending&due=true`` is today's callback list."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        rows = await uow.reviews.page(
            status=status,
            due_before=datetime.now(UTC) if due else None,
            complaint_id=complaint_id,
            after=decode_cursor(cursor),
            limit=limit,
        )
    items = [ReviewRead.model_validate(r._mapping) for r in rows[:limit]]
    return ReviewPage(items=items, next=next_cursor(rows, limit, "due_at", "review_id"))


@router.get(
    "/v1/reviews/{review_id}",
    openapi_extra=READ_ACCESS,
    response_model=ReviewRead,
    tags=["reviews"],
)
async def get_review(review_id: uuid.UUID, principal: Caller, state: State) -> ReviewRead:
    """One review."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        row = await uow.reviews.get(review_id)
    if row is None:
        raise Problem.not_found(f"回访 / review {review_id}")
    return ReviewRead.model_validate(row._mapping)


@router.post(
    "/v1/reviews/{review_id}",
    openapi_extra=REVIEW_ACCESS,
    response_model=ReviewRead,
    tags=["reviews"],
)
async def post_review(
    review_id: uuid.UUID, body: ReviewCreate, principal: Caller, state: State
) -> ReviewRead:
    """Record the callback: closes the complaint, or reopens it (重办) when unsolved or dissatisfied."""
    require_roles(principal, *REVIEW_ROLES)
    async with state.uow() as uow:
        row = await complete_review(
            review_id=review_id,
            contacted=body.contacted,
            resolved=body.resolved,
            satisfaction=body.satisfaction,
            comment=body.comment,
            reviewer=principal.subject,
            uow=uow,
        )
    return ReviewRead.model_validate(row._mapping)


@router.post(
    "/v1/reviews/{review_id}/caller",
    openapi_extra=REVIEW_ACCESS,
    response_model=CallerRevealed,
    tags=["caller"],
)
async def reveal_caller(
    review_id: uuid.UUID, principal: Caller, state: State, body: RevealCreate | None = None
) -> CallerRevealed:
    """The resident's phone number for a pending callback; audited (who, when, which review)."""
    require_roles(principal, *REVIEW_ROLES)
    async with state.uow() as uow:
        review = await uow.reviews.get(review_id)
    if review is None:
        raise Problem.not_found(f"回访 / review {review_id}")
    if review.status != "pending":
        raise Problem.conflict(
            "review-not-pending", "回访已结束，不再查看号码 / the callback is over"
        )

    async def record(revealed_at: datetime) -> None:
        async with state.uow() as uow:
            await uow.reviews.add_reveal(
                {
                    "id": uuid.uuid4(),
                    "review_id": review_id,
                    "complaint_id": review.complaint_id,
                    "revealed_by": principal.subject,
                    "reason": body.reason if body else None,
                    "revealed_at": revealed_at,
                }
            )
            await uow.commit()

    contact = await reveal_caller_once(
        intake_url=state.settings.intake_url,
        auth=state.settings.auth,
        service="review",
        complaint_id=review.complaint_id,
        purpose=f"review:{review_id}",
        revealed_by=principal.subject,
        record=record,
        timeout_s=state.settings.intake_timeout_s,
    )
    return CallerRevealed(review_id=review_id, **contact)


@router.get("/v1/reviews/{review_id}/caller-reveals", openapi_extra=READ_ACCESS, tags=["caller"])
async def list_reveals(review_id: uuid.UUID, principal: Caller, state: State) -> dict[str, Any]:
    """Who saw the resident's number for this callback, and when."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        rows = await uow.reviews.reveals(review_id)
    return {
        "items": [RevealRead.model_validate(r._mapping).model_dump(mode="json") for r in rows],
        "next": None,
    }


@router.post(
    "/v1/reviews/{review_id}/self-review-links",
    openapi_extra=REVIEW_ACCESS,
    response_model=SelfReviewLinkIssued,
    status_code=201,
    tags=["self-review"],
)
async def issue_self_review_link(
    review_id: uuid.UUID, principal: Caller, state: State
) -> SelfReviewLinkIssued:
    """Send the resident a signed, expiring, single-use link to review by themselves (SMS).

    The link is never shown here, only sent; an earlier unused link of the review stops
    working. The send is recorded with the number masked.
    """
    require_roles(principal, *REVIEW_ROLES)
    issued = await issue_link(
        review_id=review_id,
        issued_by=principal.subject,
        settings=state.settings,
        notifier=state.notifier,
        uow_factory=state.uow,
    )
    return SelfReviewLinkIssued.model_validate(issued)


@router.get(
    "/v1/reviews/{review_id}/self-review-links",
    openapi_extra=READ_ACCESS,
    tags=["self-review"],
)
async def list_self_review_links(
    review_id: uuid.UUID, principal: Caller, state: State
) -> dict[str, Any]:
    """A review's self-review links: issued, used, revoked."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        rows = await uow.reviews.links(review_id)
    return {
        "items": [
            SelfReviewLinkRead.model_validate(r._mapping).model_dump(mode="json") for r in rows
        ],
        "next": None,
    }
