"""department-response's service layer: opening cases from assignments, and case actions."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from jiesu_common.auth import Principal
from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import (
    CaseAcceptedV1,
    CaseContactedV1,
    CaseExtensionRequestedV1,
    CasePauseRequestedV1,
    CaseProgressedV1,
    CaseReplySubmittedV1,
    CaseResolvedV1,
    CaseReturnedV1,
    ComplaintAssignedV1,
    ComplaintMergedV1,
    ComplaintSupplementedV1,
    ComplaintWithdrawnV1,
    ExtensionDeniedV1,
    ExtensionGrantedV1,
    PauseDeniedV1,
    PauseEndedV1,
    PauseGrantedV1,
    ReplyApprovedV1,
    ReplySentBackV1,
    ReturnApprovedV1,
    ReturnRejectedV1,
)
from jiesu_common.db.uow import UnitOfWork
from jiesu_common.http import Problem
from jiesu_department import domain
from jiesu_department.feed import cases_changed
from jiesu_department.repository import CaseRepository
from jiesu_department.webhooks.repository import WebhookRepository, wake_workers

log = logging.getLogger(__name__)


class DepartmentUnitOfWork(UnitOfWork):
    """A unit of work with the case and webhook repositories; commit queues the webhooks of
    the case changes in the same transaction, then wakes the touched units' streams."""

    async def __aenter__(self) -> DepartmentUnitOfWork:
        await super().__aenter__()
        self.cases = CaseRepository(self.session, self.connection)
        self.webhooks = WebhookRepository(self.session, self.connection)
        return self

    async def commit(self) -> None:
        """Queue webhooks, write outbox rows and commit, then wake the streams of the units
        touched and this process's delivery worker."""
        touched = self.cases.take_touched()
        changes = self.cases.take_changes()
        hooked = self.cases.take_maybe_hooked()
        queued = (
            await self.webhooks.queue_for_changes(changes, touched) if changes and hooked else 0
        )
        await super().commit()
        if queued:
            wake_workers()
        if touched and not cases_changed():
            # No feed in this process (a worker): tell the replicas' streams directly.
            try:
                await self.cases.notify(touched)
            except Exception:  # the change is committed; streams still poll
                log.warning("case stream notification failed", exc_info=True)


# --- consumed events ---------------------------------------------------------------------


async def open_cases(payload: ComplaintAssignedV1, event: CloudEvent, uow: UnitOfWork) -> None:
    """An assignment opens a case for the lead unit and for each co-unit.

    Open cases of earlier rounds are closed out: the newer round supersedes them.
    """
    assert isinstance(uow, DepartmentUnitOfWork)
    # A first round has no earlier cases to supersede.
    for old in await uow.cases.of_complaint(payload.complaint_id) if payload.round > 1 else ():
        if old.round < payload.round and old.status in domain.OPEN_STATUSES:
            await uow.cases.change(
                old.case_id,
                old.unit_id,
                status="withdrawn",
                log=("superseded", None, payload.assigned_at, {"round": payload.round}),
            )
    units = [(payload.lead_unit_id, "lead")] + [(u, "co") for u in payload.co_unit_ids]
    summary = payload.summary.model_dump(mode="json")
    jurisdiction = payload.jurisdiction.model_dump(mode="json")
    deadlines = payload.deadlines.model_dump(mode="json")
    for unit_id, role in units:
        case_id = domain.case_id_for(payload.assignment_id, unit_id)
        await uow.cases.open_case(
            {
                "case_id": case_id,
                "complaint_id": payload.complaint_id,
                "assignment_id": payload.assignment_id,
                "round": payload.round,
                "unit_id": unit_id,
                "role": role,
                "status": "assigned",
                "ticket_no": payload.summary.ticket_no,
                "summary": summary,
                "jurisdiction": jurisdiction,
                "category_code": payload.category_code,
                "sla_class": payload.sla_class,
                "mode": payload.mode,
                "deadlines": deadlines,
                "co_unit_ids": list(payload.co_unit_ids),
                "lead_unit_id": payload.lead_unit_id,
                "assigned_at": payload.assigned_at,
                "reply_review_required": payload.reply_review and role == "lead",
            },
            by=payload.assigned_by,
            at=payload.assigned_at,
            detail={"role": role},
        )


async def close_out_withdrawn(
    payload: ComplaintWithdrawnV1 | ComplaintMergedV1, event: CloudEvent, uow: UnitOfWork
) -> None:
    """The resident withdrew, or the complaint was merged into a master by hand (it follows
    the master's outcome): every open case of the complaint ends."""
    assert isinstance(uow, DepartmentUnitOfWork)
    if isinstance(payload, ComplaintMergedV1):
        action, at = "merged", payload.merged_at
        detail = {"master_id": str(payload.master_id), "reason": payload.note}
    else:
        action, at, detail = "withdrawn", payload.withdrawn_at, {"reason": payload.reason}
    for case in await uow.cases.of_complaint(payload.complaint_id):
        if case.status in domain.OPEN_STATUSES:
            await uow.cases.change(case.case_id, case.unit_id, status="withdrawn")
            await uow.cases.log_action(case.case_id, action, None, at, detail)
    await uow.cases.close_consultations(
        complaint_id=payload.complaint_id, status="cancelled", decided_at=at
    )


async def note_supplement(
    payload: ComplaintSupplementedV1, event: CloudEvent, uow: UnitOfWork
) -> None:
    """What the resident added after filing reaches every unit still holding the complaint."""
    assert isinstance(uow, DepartmentUnitOfWork)
    detail = {
        "note": payload.note,
        "intent": payload.intent,
        "attachments": list(payload.attachments),
        "external_status": payload.external_status,
    }
    for case in await uow.cases.of_complaint(payload.complaint_id):
        if case.status in (*domain.OPEN_STATUSES, "resolved"):
            await uow.cases.log_action(
                case.case_id, "supplemented", payload.app_id, payload.supplemented_at, detail
            )
            await uow.cases.change(case.case_id, case.unit_id)


async def apply_return_decision(
    payload: ReturnApprovedV1 | ReturnRejectedV1, event: CloudEvent, uow: UnitOfWork
) -> None:
    """Approved: the case stays returned. Rejected: it goes back to the unit as it was."""
    assert isinstance(uow, DepartmentUnitOfWork)
    case = await uow.cases.get(payload.case_id, for_update=True)
    if case is None or case.status != "returned":
        return
    approved = isinstance(payload, ReturnApprovedV1)
    values: dict[str, Any] = {"return_decision": "approved" if approved else "rejected"}
    if not approved:
        values["status"] = case.status_before_return or "assigned"
    await uow.cases.change(case.case_id, case.unit_id, **values)
    await uow.cases.log_action(
        case.case_id,
        "return_approved" if approved else "return_rejected",
        payload.decided_by,
        payload.decided_at,
        {"note": payload.note},
    )


async def apply_extension_decision(
    payload: ExtensionGrantedV1 | ExtensionDeniedV1, event: CloudEvent, uow: UnitOfWork
) -> None:
    """A granted extension moves the resolve deadline; either way nothing is pending now."""
    assert isinstance(uow, DepartmentUnitOfWork)
    case = await uow.cases.get(payload.case_id, for_update=True)
    if case is None:
        return
    values: dict[str, Any] = {"extension_pending": False}
    granted = isinstance(payload, ExtensionGrantedV1)
    if isinstance(payload, ExtensionGrantedV1):
        values["deadlines"] = case.deadlines | {"resolve_by": payload.resolve_by.isoformat()}
    await uow.cases.change(case.case_id, case.unit_id, **values)
    await uow.cases.log_action(
        case.case_id,
        "extension_granted" if granted else "extension_denied",
        payload.decided_by,
        payload.decided_at,
        {"note": payload.note},
    )


async def apply_pause_decision(
    payload: PauseGrantedV1 | PauseDeniedV1 | PauseEndedV1, event: CloudEvent, uow: UnitOfWork
) -> None:
    """挂起: granted, the case shows as paused and its deadlines move by the planned pause;
    denied, nothing is pending; ended early by action, the deadlines move back by the part
    not used (an open-ended pause moves them by the time it lasted)."""
    assert isinstance(uow, DepartmentUnitOfWork)
    case = await uow.cases.get(payload.case_id, for_update=True)
    if case is None or case.pause_id != payload.pause_id:
        return
    values: dict[str, Any]
    if isinstance(payload, PauseGrantedV1):
        if case.pause_status != "pending":
            return
        planned = payload.until - payload.paused_at if payload.until else timedelta(0)
        values = {
            "pause_status": "paused",
            "paused_until": payload.until,
            "deadlines": domain.shift_deadlines(case.deadlines, planned),
        }
        action, detail = "pause_granted", {"until": _iso(payload.until), "note": payload.note}
    elif isinstance(payload, PauseDeniedV1):
        if case.pause_status != "pending":
            return
        values = {"pause_status": None, "paused_until": None}
        action, detail = "pause_denied", {"note": payload.note}
    else:
        if case.pause_status != "paused":
            return
        # The deadlines already include the planned pause (none when open-ended).
        planned_end = payload.until or payload.paused_at
        values = {
            "pause_status": None,
            "paused_until": None,
            "deadlines": domain.shift_deadlines(case.deadlines, payload.ended_at - planned_end),
        }
        action, detail = "pause_ended", {"ended_at": _iso(payload.ended_at)}
    await uow.cases.change(
        case.case_id,
        case.unit_id,
        log=(action, payload.decided_by, payload.decided_at, detail),
        **values,
    )


# --- case actions (from the API) ------------------------------------------------------------


async def act_on_case(
    *,
    case_id: uuid.UUID,
    action: domain.Action,
    body: dict[str, Any],
    principal: Principal,
    uow: DepartmentUnitOfWork,
) -> Any:
    """Check the rules, change the case, emit the action's event, commit; returns the case."""
    case = await own_case(case_id, principal, uow, for_update=True)
    now = datetime.now(UTC)
    deadlines = case.deadlines
    state = domain.CaseState(
        status=case.status,
        role=case.role,
        contacted=case.contacted_at is not None,
        extension_pending=case.extension_pending,
        return_by=datetime.fromisoformat(deadlines["return_by"]),
        resolve_by=datetime.fromisoformat(deadlines["resolve_by"]),
        mode=case.mode,
        pause_status=case.pause_status,
        paused_until=case.paused_until,
        reply_review_required=case.reply_review_required,
        reply_review=case.reply_review,
    )
    try:
        status = domain.next_status(state, action, now)
    except domain.ActionRefused as refused:
        raise Problem.conflict(refused.slug, refused.message) from refused
    if action == "extension-request" and body["until"] <= state.resolve_by:
        raise Problem.invalid("延期后的时限须晚于当前办结时限 / `until` must be after resolve_by")
    if action == "pause-request":
        if body.get("until") is not None and body["until"] <= now:
            raise Problem.invalid("恢复日期须在将来 / `until` must be in the future")
        body = body | {"pause_id": str(uuid.uuid4())}
    if action == "resolve" and status != "resolved":
        # 答复审核: the reply waits for the centre; the case counts as resolved on approval.
        return await _submit_reply(case, status, body, principal, now, uow)
    values = {"status": status} | _stamps(action, now, body, case.status)
    uow.publish(_event_for(action, case, principal.subject, now, body))
    # The change, its history entry and its event in one statement; commit only commits.
    changed = await uow.cases.change(
        case.case_id,
        case.unit_id,
        log=(action, principal.subject, now, _jsonable(body)),
        outbox=uow.take_outbox_rows(),
        **values,
    )
    await uow.commit()
    log.info("case %s", action, extra={"case_id": str(case.case_id), "unit_id": case.unit_id})
    return changed


async def _submit_reply(
    case: Any,
    status: str,
    body: dict[str, Any],
    principal: Principal,
    now: datetime,
    uow: DepartmentUnitOfWork,
) -> Any:
    """The reply goes to the centre's review; the resolve clock keeps running meanwhile."""
    reply_review_id = uuid.uuid4()
    uow.publish(
        CaseReplySubmittedV1(
            complaint_id=case.complaint_id,
            case_id=case.case_id,
            unit_id=case.unit_id,
            round=case.round,
            role=case.role,
            by=principal.subject,
            reply_review_id=reply_review_id,
            reply=body["reply"],
            result=body.get("result"),
            submitted_at=now,
        )
    )
    changed = await uow.cases.change(
        case.case_id,
        case.unit_id,
        log=("reply_submitted", principal.subject, now, _jsonable(body)),
        outbox=uow.take_outbox_rows(),
        status=status,
        reply=body["reply"],
        result=body.get("result"),
        reply_review="pending",
        reply_review_note=None,
        reply_submitted_at=now,
    )
    await uow.commit()
    log.info("reply submitted for review", extra={"case_id": str(case.case_id)})
    return changed


async def apply_reply_review(
    payload: ReplyApprovedV1 | ReplySentBackV1, event: CloudEvent, uow: UnitOfWork
) -> None:
    """Approved: the case is resolved now (and says so to everyone, as a unit's resolve does).
    Sent back: the case stays open with the reviewer's note; the unit replies again."""
    assert isinstance(uow, DepartmentUnitOfWork)
    case = await uow.cases.get(payload.case_id, for_update=True)
    if case is None or case.reply_review != "pending" or case.status not in domain.OPEN_STATUSES:
        return
    detail = {"note": payload.note}
    if isinstance(payload, ReplySentBackV1):
        await uow.cases.change(
            case.case_id,
            case.unit_id,
            log=("reply_sent_back", payload.decided_by, payload.decided_at, detail),
            reply_review="sent_back",
            reply_review_note=payload.note,
        )
        return
    await uow.cases.change(
        case.case_id,
        case.unit_id,
        log=("reply_approved", payload.decided_by, payload.decided_at, detail),
        status="resolved",
        resolved_at=payload.decided_at,
        reply_review="approved",
        reply_review_note=payload.note,
    )
    uow.publish(
        CaseResolvedV1(
            complaint_id=case.complaint_id,
            case_id=case.case_id,
            unit_id=case.unit_id,
            round=case.round,
            role=case.role,
            by=payload.decided_by,
            reply=case.reply,
            result=case.result,
            resolved_at=payload.decided_at,
        )
    )


async def own_case(
    case_id: uuid.UUID, principal: Principal, uow: DepartmentUnitOfWork, *, for_update: bool = False
) -> Any:
    """The case, if the caller may see it; 404 otherwise (another unit's case does not exist)."""
    case = await uow.cases.get(case_id, for_update=for_update)
    if case is None or not may_see(principal, case.unit_id):
        raise Problem.not_found(f"承办任务 / case {case_id}")
    return case


def may_see(principal: Principal, unit_id: str) -> bool:
    """Unit staff see their own unit's cases; supervisors, dispatchers and admins see all."""
    if principal.role == "unit_staff":
        return principal.unit_id == unit_id
    return principal.role in ("supervisor", "dispatcher", "admin")


def _stamps(action: str, now: datetime, body: dict[str, Any], status: str) -> dict[str, Any]:
    if action == "accept":
        return {"accepted_at": now}
    if action == "contact":
        return {"contacted_at": now}
    if action == "resolve":
        return {"resolved_at": now, "reply": body["reply"], "result": body.get("result")}
    if action == "return":
        return {
            "returned_at": now,
            "return_reason": body["reason"],
            "status_before_return": status,
            "return_decision": "pending",
        }
    if action == "extension-request":
        return {"extension_pending": True}
    if action == "pause-request":
        return {"pause_status": "pending", "pause_id": uuid.UUID(body["pause_id"])}
    return {}


def _event_for(action: str, case: Any, by: str, now: datetime, body: dict[str, Any]) -> Any:
    common = {
        "complaint_id": case.complaint_id,
        "case_id": case.case_id,
        "unit_id": case.unit_id,
        "round": case.round,
        "role": case.role,
        "by": by,
    }
    if action == "accept":
        return CaseAcceptedV1(**common, accepted_at=now)
    if action == "contact":
        return CaseContactedV1(
            **common, method=body["method"], note=body.get("note"), contacted_at=now
        )
    if action == "progress":
        return CaseProgressedV1(**common, note=body["note"], progressed_at=now)
    if action == "resolve":
        return CaseResolvedV1(
            **common, reply=body["reply"], result=body.get("result"), resolved_at=now
        )
    if action == "return":
        return CaseReturnedV1(
            **common, reason=body["reason"], evidence=body.get("evidence"), returned_at=now
        )
    if action == "pause-request":
        return CasePauseRequestedV1(
            **common,
            pause_id=uuid.UUID(body["pause_id"]),
            reason=body["reason"],
            until=body.get("until"),
            requested_at=now,
        )
    return CaseExtensionRequestedV1(
        **common, until=body["until"], reason=body["reason"], requested_at=now
    )


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _jsonable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in body.items()}
