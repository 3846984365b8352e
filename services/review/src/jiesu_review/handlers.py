"""callback-review's service layer: reviews falling due, and completing them."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import (
    CaseResolvedV1,
    ComplaintAnsweredV1,
    ComplaintAssignedV1,
    ComplaintClosedV1,
    ComplaintReopenedV1,
    ComplaintWithdrawnV1,
    ReviewCompletedV1,
)
from jiesu_common.db.uow import UnitOfWork
from jiesu_common.http import Problem
from jiesu_review import domain
from jiesu_review.repository import ReviewRepository
from jiesu_review.settings import ReviewSettings

log = logging.getLogger(__name__)


class ReviewUnitOfWork(UnitOfWork):
    """A unit of work with the review repository."""

    async def __aenter__(self) -> ReviewUnitOfWork:
        await super().__aenter__()
        self.reviews = ReviewRepository(self.session, self.connection)
        return self


class Reviews:
    """Review handling with this process's settings (time zone, due delay)."""

    def __init__(self, settings: ReviewSettings) -> None:
        self.settings = settings

    async def note_assignment(
        self, payload: ComplaintAssignedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """Remember the round's units; a newer round cancels older pending reviews."""
        assert isinstance(uow, ReviewUnitOfWork)
        review_id = domain.review_id_for(payload.complaint_id, payload.round)
        review_exists = await uow.reviews.note_round(
            {
                "complaint_id": payload.complaint_id,
                "round": payload.round,
                "lead_unit_id": payload.lead_unit_id,
                "co_unit_ids": list(payload.co_unit_ids),
                "ticket_no": payload.summary.ticket_no,
                "summary": payload.summary.model_dump(mode="json"),
                "assigned_at": payload.assigned_at,
            },
            review_id=review_id,
        )
        if payload.round > 1:  # a first round has no older reviews
            await uow.reviews.cancel_pending(payload.complaint_id, below_round=payload.round)
        if review_exists:  # its resolution was seen first
            units = [payload.lead_unit_id, *payload.co_unit_ids]
            await uow.reviews.change(review_id, unit_ids=units, ticket_no=payload.summary.ticket_no)

    async def review_resolution(
        self, payload: CaseResolvedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """The lead unit's reply makes the round's review fall due the next day."""
        assert isinstance(uow, ReviewUnitOfWork)
        if payload.role != "lead":
            return  # co-units' replies feed the lead's; the lead's closes the round
        superseded, known = await uow.reviews.resolution_context(
            payload.complaint_id, payload.round
        )
        if superseded:
            return
        units = [known.lead_unit_id, *known.co_unit_ids] if known else [payload.unit_id]
        await uow.reviews.add_review(
            self._new_review(
                payload.complaint_id,
                payload.round,
                source="resolved",
                ticket_no=known.ticket_no if known else None,
                lead_unit_id=payload.unit_id,
                unit_ids=units,
                reply=payload.reply,
                handled_at=payload.resolved_at,
            )
        )

    async def review_answer(
        self, payload: ComplaintAnsweredV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """An inquiry answered at intake (直办) is called back too."""
        assert isinstance(uow, ReviewUnitOfWork)
        if await uow.reviews.has_ended(payload.complaint_id):
            return
        await uow.reviews.add_review(
            self._new_review(
                payload.complaint_id,
                1,
                source="answered",
                ticket_no=payload.ticket_no,
                lead_unit_id=None,
                unit_ids=[],
                reply=payload.answer,
                handled_at=payload.answered_at,
            )
        )

    async def end_complaint(
        self, payload: ComplaintWithdrawnV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """A withdrawn complaint is not called back."""
        assert isinstance(uow, ReviewUnitOfWork)
        await uow.reviews.mark_ended(payload.complaint_id, "withdrawn", payload.withdrawn_at)
        await uow.reviews.cancel_pending(payload.complaint_id)

    def _new_review(
        self, complaint_id: uuid.UUID, round_no: int, *, handled_at: datetime, **fields: Any
    ) -> dict[str, Any]:
        return {
            "review_id": domain.review_id_for(complaint_id, round_no),
            "complaint_id": complaint_id,
            "round": round_no,
            "handled_at": handled_at,
            "due_at": domain.due_at(
                handled_at, tz=self.settings.timezone, after_days=self.settings.due_after_days
            ),
            "status": "pending",
            **fields,
        }


async def complete_review(
    *,
    review_id: uuid.UUID,
    contacted: bool,
    resolved: bool,
    satisfaction: str,
    comment: str | None,
    reviewer: str,
    uow: ReviewUnitOfWork,
    self_reported: bool = False,
) -> Any:
    """Record the callback; close the complaint, or reopen it when unsolved or dissatisfied.

    ``self_reported``: the resident answered through a self-review link.
    """
    review = await uow.reviews.get(review_id, for_update=True)
    if review is None:
        raise Problem.not_found(f"回访 / review {review_id}")
    if review.status != "pending":
        raise Problem.conflict(
            "review-not-pending", f"回访已{_LABEL[review.status]} / review is {review.status}"
        )
    now = datetime.now(UTC)
    outcome = domain.outcome_of(resolved=resolved, satisfaction=satisfaction)
    answer: dict[str, Any] = {
        "contacted": contacted,
        "resolved": resolved,
        "satisfaction": satisfaction,
        "comment": comment,
        "reviewer": reviewer,
        "completed_at": now,
        "self_reported": self_reported,
    }
    uow.publish(
        ReviewCompletedV1(
            complaint_id=review.complaint_id,
            review_id=review_id,
            round=review.round,
            lead_unit_id=review.lead_unit_id,
            unit_ids=tuple(review.unit_ids),
            **answer,
        )
    )
    if outcome == "closed":
        uow.publish(
            ComplaintClosedV1(
                complaint_id=review.complaint_id,
                review_id=review_id,
                round=review.round,
                closed_at=now,
            )
        )
    else:
        uow.publish(
            ComplaintReopenedV1(
                complaint_id=review.complaint_id,
                review_id=review_id,
                round=review.round,
                next_round=review.round + 1,
                reason=domain.reopen_reason(resolved=resolved, satisfaction=satisfaction),
                previous_lead_unit_id=review.lead_unit_id,
                reopened_at=now,
            )
        )
    # The answer and its events in one statement; commit only commits.
    outbox = uow.take_outbox_rows()
    assert outbox is not None
    completed = await uow.reviews.complete(
        review_id, outbox, status="completed", outcome=outcome, **answer
    )
    await uow.commit()
    log.info("review completed", extra={"outcome": outcome, "round": review.round})
    return completed


_LABEL = {"completed": "完成", "cancelled": "取消"}
