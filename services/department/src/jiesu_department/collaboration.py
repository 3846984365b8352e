"""The collaborative half of a unit's work: consultations it is invited to (会商) and
whistle summonses (吹哨报到).

Dispatch owns consultations and whistles; department-response shows each participant
its consultations, turns a street office's whistle into a request to dispatch, opens a
summons case for every department dispatch summoned, and records their report-ins.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from jiesu_common.auth import Principal
from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import (
    ComplaintQueuedV1,
    ConsultationDecidedV1,
    ConsultationOpenedV1,
    WhistleBlownV1,
    WhistleReportedV1,
    WhistleRequestedV1,
)
from jiesu_common.db.uow import UnitOfWork
from jiesu_common.http import Problem
from jiesu_department import domain
from jiesu_department.handlers import DepartmentUnitOfWork, own_case

log = logging.getLogger(__name__)


# --- consumed events ---------------------------------------------------------------------


async def note_consultation_opened(
    payload: ConsultationOpenedV1, event: CloudEvent, uow: UnitOfWork
) -> None:
    """Each participant sees the consultation in its queue and on its stream."""
    assert isinstance(uow, DepartmentUnitOfWork)
    summary = payload.summary.model_dump(mode="json") if payload.summary else None
    for unit_id in payload.participants:
        await uow.cases.add_consultation(
            {
                "consultation_id": payload.consultation_id,
                "unit_id": unit_id,
                "complaint_id": payload.complaint_id,
                "round": payload.round,
                "ticket_no": payload.summary.ticket_no if payload.summary else None,
                "summary": summary,
                "category_code": payload.category_code,
                "trigger": payload.trigger,
                "reason": payload.reason,
                "participants": list(payload.participants),
                "deadline": payload.deadline,
                "status": "open",
                "opened_at": payload.opened_at,
            }
        )
    # A return that went to the consultation waits for no return decision any more.
    for case in await uow.cases.of_complaint(payload.complaint_id):
        if case.status == "returned" and case.return_decision == "pending":
            await uow.cases.change(case.case_id, case.unit_id, return_decision="consultation")


async def note_consultation_decided(
    payload: ConsultationDecidedV1, event: CloudEvent, uow: UnitOfWork
) -> None:
    """The consultation ends for every participant (the assignment opens the cases)."""
    assert isinstance(uow, DepartmentUnitOfWork)
    await uow.cases.close_consultations(
        consultation_id=payload.consultation_id,
        status="fallen_back" if payload.fallback else "decided",
        lead_unit_id=payload.lead_unit_id,
        co_unit_ids=list(payload.co_unit_ids),
        decided_at=payload.decided_at,
    )


async def end_consultations(payload: ComplaintQueuedV1, event: CloudEvent, uow: UnitOfWork) -> None:
    """Queued for a human dispatcher (a fallback with nowhere to go): no consultation stays open."""
    assert isinstance(uow, DepartmentUnitOfWork)
    await uow.cases.close_consultations(
        complaint_id=payload.complaint_id, status="fallen_back", decided_at=payload.queued_at
    )


async def open_summons_cases(payload: WhistleBlownV1, event: CloudEvent, uow: UnitOfWork) -> None:
    """Every summoned department gets a co-unit case of the street office's, marked as a summons."""
    assert isinstance(uow, DepartmentUnitOfWork)
    street_case = await uow.cases.get(payload.case_id)
    if street_case is None:
        log.warning("whistle for a case unknown here; ignored")
        return
    for unit_id in payload.summoned_unit_ids:
        case_id = domain.summons_case_id(payload.whistle_id, unit_id)
        await uow.cases.open_case(
            {
                "case_id": case_id,
                "complaint_id": street_case.complaint_id,
                "assignment_id": street_case.assignment_id,
                "round": street_case.round,
                "unit_id": unit_id,
                "role": "co",
                "status": "assigned",
                "ticket_no": street_case.ticket_no,
                "summary": street_case.summary,
                "jurisdiction": street_case.jurisdiction,
                "category_code": street_case.category_code,
                "sla_class": street_case.sla_class,
                "mode": street_case.mode,
                "deadlines": street_case.deadlines,
                "co_unit_ids": street_case.co_unit_ids,
                "lead_unit_id": street_case.lead_unit_id,
                "assigned_at": payload.blown_at,
                "whistle_id": payload.whistle_id,
                "summoned_by": payload.street_unit_id,
                "ask": payload.ask,
                "report_by": payload.report_by,
            },
            action="summoned",
            by=payload.street_unit_id,
            at=payload.blown_at,
            detail={"ask": payload.ask, "report_by": payload.report_by.isoformat()},
        )
    await uow.cases.log_action(
        street_case.case_id,
        "whistle_blown",
        None,
        payload.blown_at,
        {"whistle_id": str(payload.whistle_id), "units": list(payload.summoned_unit_ids)},
    )
    await uow.cases.change(street_case.case_id, street_case.unit_id)


# --- actions (from the API) ------------------------------------------------------------------


async def blow_whistle(
    *,
    case_id: uuid.UUID,
    unit_ids: list[str],
    ask: str,
    report_by: datetime,
    principal: Principal,
    unit_kinds: dict[str, str],
    uow: DepartmentUnitOfWork,
) -> WhistleRequestedV1:
    """吹哨: a street office holding the case summons departments; dispatch records it."""
    case = await own_case(case_id, principal, uow, for_update=True)
    now = datetime.now(UTC)
    try:
        problems = domain.check_whistle(
            status=case.status,
            caller_unit=case.unit_id,
            caller_kind=unit_kinds.get(case.unit_id),
            summoned=unit_ids,
            known_units=set(unit_kinds),
            report_by=report_by,
            now=now,
        )
    except domain.ActionRefused as refused:
        status = 403 if refused.slug == "whistle-street-office-only" else 409
        title = "无权限 / Forbidden" if status == 403 else "状态冲突 / Conflict"
        raise Problem(status, refused.slug, title, refused.message) from refused
    if problems:
        raise Problem.invalid("吹哨请求无效 / invalid whistle", [{"msg": p} for p in problems])
    request = WhistleRequestedV1(
        complaint_id=case.complaint_id,
        case_id=case.case_id,
        unit_id=case.unit_id,
        round=case.round,
        role=case.role,
        by=principal.subject,
        whistle_id=uuid.uuid4(),
        summoned_unit_ids=tuple(unit_ids),
        ask=ask,
        report_by=report_by,
        requested_at=now,
    )
    await uow.cases.log_action(
        case.case_id,
        "whistle",
        principal.subject,
        now,
        {"whistle_id": str(request.whistle_id), "units": unit_ids, "ask": ask},
    )
    await uow.cases.change(case.case_id, case.unit_id)
    uow.publish(request)
    await uow.commit()
    return request


async def report_in(
    *, case_id: uuid.UUID, note: str | None, principal: Principal, uow: DepartmentUnitOfWork
) -> Any:
    """报到: the summoned department reports in, once; the case counts as accepted."""
    case = await own_case(case_id, principal, uow, for_update=True)
    try:
        domain.check_report_in(
            status=case.status, whistle_id=case.whistle_id, reported=case.reported_at is not None
        )
    except domain.ActionRefused as refused:
        raise Problem.conflict(refused.slug, refused.message) from refused
    now = datetime.now(UTC)
    values: dict[str, Any] = {"reported_at": now}
    if case.status == "assigned":
        values.update(status="accepted", accepted_at=now)
    await uow.cases.change(case.case_id, case.unit_id, **values)
    await uow.cases.log_action(case.case_id, "report-in", principal.subject, now, {"note": note})
    uow.publish(
        WhistleReportedV1(
            complaint_id=case.complaint_id,
            case_id=case.case_id,
            unit_id=case.unit_id,
            round=case.round,
            role=case.role,
            by=principal.subject,
            whistle_id=case.whistle_id,
            note=note,
            reported_at=now,
        )
    )
    await uow.commit()
    return await uow.cases.get(case.case_id)
