"""Units' requests about their cases that the centre decides, beyond returns and extensions:
pauses (挂起) and replies to review (答复审核)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from jiesu_common.auth import Principal
from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import (
    CasePauseRequestedV1,
    CaseReplySubmittedV1,
    PauseDeniedV1,
    PauseEndedV1,
    PauseGrantedV1,
    ReplyApprovedV1,
    ReplySentBackV1,
)
from jiesu_common.db.uow import UnitOfWork
from jiesu_common.http import Problem
from jiesu_dispatch.handlers import DispatchUnitOfWork


class CaseRequests:
    """Records the units' pause requests and replies, and the centre's decisions on them."""

    # --- consumed events -----------------------------------------------------------------

    async def record_pause_request(
        self, payload: CasePauseRequestedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """A unit's pause request (挂起) waits for the centre."""
        assert isinstance(uow, DispatchUnitOfWork)
        await uow.dispatch.add_request(
            "pauses",
            {
                "pause_id": payload.pause_id,
                "case_id": payload.case_id,
                "complaint_id": payload.complaint_id,
                "round": payload.round,
                "unit_id": payload.unit_id,
                "reason": payload.reason,
                "until": payload.until,
                "requested_at": payload.requested_at,
                "status": "pending",
            },
        )

    async def record_reply(
        self, payload: CaseReplySubmittedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """A unit's reply waits for the centre's review (答复审核)."""
        assert isinstance(uow, DispatchUnitOfWork)
        await uow.dispatch.add_request(
            "reply_reviews",
            {
                "reply_review_id": payload.reply_review_id,
                "case_id": payload.case_id,
                "complaint_id": payload.complaint_id,
                "round": payload.round,
                "unit_id": payload.unit_id,
                "reply": payload.reply,
                "result": payload.result,
                "submitted_by": payload.by,
                "requested_at": payload.submitted_at,
                "status": "pending",
            },
        )

    # --- the centre's decisions ----------------------------------------------------------

    async def decide_pause(
        self,
        *,
        pause_id: uuid.UUID,
        grant: bool,
        note: str | None,
        until: datetime | None,
        decided_by: str,
        uow: DispatchUnitOfWork,
    ) -> Any:
        """Grant (the clocks stop now, until the date asked for or another one) or deny."""
        pause = await uow.dispatch.request("pauses", pause_id, for_update=True)
        if pause is None:
            raise Problem.not_found(f"挂起申请 / pause {pause_id}")
        if pause.status != "pending":
            raise Problem.conflict(
                "pause-decided", f"挂起申请已处理（{pause.status}）/ already decided"
            )
        ref = await uow.dispatch.complaint(pause.complaint_id, for_update=True)
        if ref is None or ref.current_round != pause.round or ref.state in ("withdrawn", "closed"):
            raise Problem.conflict("pause-stale", "该轮次已结束，挂起不再适用 / the round is over")
        now = datetime.now(UTC)
        common = _case_decision(pause, decided_by, note, now) | {"pause_id": pause_id}
        values: dict[str, Any] = {"decided_by": decided_by, "decided_at": now, "note": note}
        if grant:
            until = until or pause.until
            if until is not None and until <= now:
                raise Problem.invalid("恢复日期须在将来 / `until` must be in the future")
            uow.publish(PauseGrantedV1(**common, paused_at=now, until=until))
            values.update(status="granted", until=until, paused_at=now)
        else:
            uow.publish(PauseDeniedV1(**common))
            values.update(status="denied")
        await uow.dispatch.decide_request("pauses", pause_id, **values)
        await uow.commit()
        return await uow.dispatch.request("pauses", pause_id)

    async def decide_reply(
        self,
        *,
        reply_review_id: uuid.UUID,
        approve: bool,
        note: str | None,
        decided_by: str,
        uow: DispatchUnitOfWork,
    ) -> Any:
        """Approve (the case counts as resolved now) or send back with a note."""
        reply = await uow.dispatch.request("reply_reviews", reply_review_id, for_update=True)
        if reply is None:
            raise Problem.not_found(f"答复审核 / reply review {reply_review_id}")
        if reply.status != "pending":
            raise Problem.conflict(
                "reply-review-decided", f"答复已审核（{reply.status}）/ already decided"
            )
        ref = await uow.dispatch.complaint(reply.complaint_id, for_update=True)
        if ref is None or ref.current_round != reply.round or ref.state in ("withdrawn", "closed"):
            raise Problem.conflict("reply-review-stale", "该轮次已结束 / the round is over")
        now = datetime.now(UTC)
        common = _case_decision(reply, decided_by, note, now) | {"reply_review_id": reply_review_id}
        if approve:
            uow.publish(ReplyApprovedV1(**common))
        else:
            uow.publish(ReplySentBackV1(**common))
        await uow.dispatch.decide_request(
            "reply_reviews",
            reply_review_id,
            status="approved" if approve else "sent_back",
            decided_by=decided_by,
            decided_at=now,
            note=note,
        )
        await uow.commit()
        return await uow.dispatch.request("reply_reviews", reply_review_id)

    async def end_pause(
        self,
        *,
        pause_id: uuid.UUID,
        note: str | None,
        principal: Principal,
        uow: DispatchUnitOfWork,
    ) -> Any:
        """Resume by action: the centre, or the paused unit (the resident called back), ends a
        granted pause before its date; the clocks run again from now."""
        pause = await uow.dispatch.request("pauses", pause_id, for_update=True)
        if pause is None or (principal.role == "unit_staff" and principal.unit_id != pause.unit_id):
            raise Problem.not_found(f"挂起 / pause {pause_id}")
        now = datetime.now(UTC)
        if pause.status != "granted" or (pause.until is not None and pause.until <= now):
            raise Problem.conflict(
                "pause-not-running", "挂起未生效或已结束 / the pause is not running"
            )
        common = _case_decision(pause, principal.subject, note, now) | {"pause_id": pause_id}
        uow.publish(
            PauseEndedV1(**common, paused_at=pause.paused_at, until=pause.until, ended_at=now)
        )
        await uow.dispatch.decide_request(
            "pauses", pause_id, status="ended", ended_at=now, ended_by=principal.subject
        )
        await uow.commit()
        return await uow.dispatch.request("pauses", pause_id)


def _case_decision(
    request: Any, decided_by: str, note: str | None, now: datetime
) -> dict[str, Any]:
    """The common fields of the centre's decision on a unit's request about its case."""
    return {
        "complaint_id": request.complaint_id,
        "case_id": request.case_id,
        "unit_id": request.unit_id,
        "round": request.round,
        "decided_by": decided_by,
        "note": note,
        "decided_at": now,
    }
