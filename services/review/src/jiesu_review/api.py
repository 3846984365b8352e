"""callback-review's HTTP routes: the reviewers' list and recording a callback."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from jiesu_common.auth import Staff, require_roles
from jiesu_common.http import Problem, decode_cursor, encode_cursor
from jiesu_review.handlers import complete_review
from jiesu_review.schemas import ReviewCreate, ReviewPage, ReviewRead
from jiesu_review.state import ReviewState

router = APIRouter()
REVIEW_ROLES = ("reviewer", "admin")
READ_ROLES = ("reviewer", "supervisor", "admin", "operator")


def get_state(request: Request) -> ReviewState:
    """The process state built at start-up."""
    state: ReviewState = request.app.state.review
    return state


State = Annotated[ReviewState, Depends(get_state)]


Caller = Staff


@router.get("/v1/reviews", response_model=ReviewPage, tags=["reviews"])
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
    last = rows[limit - 1] if len(rows) > limit else None
    return ReviewPage(
        items=items, next=encode_cursor(last.due_at, last.review_id) if last else None
    )


@router.get("/v1/reviews/{review_id}", response_model=ReviewRead, tags=["reviews"])
async def get_review(review_id: uuid.UUID, principal: Caller, state: State) -> ReviewRead:
    """One review."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        row = await uow.reviews.get(review_id)
    if row is None:
        raise Problem.not_found(f"回访 / review {review_id}")
    return ReviewRead.model_validate(row._mapping)


@router.post("/v1/reviews/{review_id}", response_model=ReviewRead, tags=["reviews"])
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
