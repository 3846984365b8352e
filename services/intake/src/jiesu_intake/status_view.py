"""Intake's status view: other services' lifecycle events projected onto each complaint.

Events arrive from several topics in any interleaving; the status moves by (round, stage),
so every order ends in the same state (DESIGN §3).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import ComplaintStatus
from jiesu_common.db.uow import UnitOfWork
from jiesu_intake import domain, merges
from jiesu_intake.handlers import IntakeUnitOfWork

# Lifecycle event type → the status it implies (for the lead unit's case events).
STATUS_OF: dict[str, ComplaintStatus] = {
    "jiesu.complaint.queued.v1": ComplaintStatus.queued,
    "jiesu.consultation.opened.v1": ComplaintStatus.consultation,
    "jiesu.complaint.assigned.v1": ComplaintStatus.assigned,
    "jiesu.case.accepted.v1": ComplaintStatus.accepted,
    "jiesu.case.contacted.v1": ComplaintStatus.in_progress,
    "jiesu.case.progressed.v1": ComplaintStatus.in_progress,
    "jiesu.case.resolved.v1": ComplaintStatus.resolved,
    "jiesu.complaint.closed.v1": ComplaintStatus.closed,
    "jiesu.complaint.reopened.v1": ComplaintStatus.assigned,
    "jiesu.complaint.answered.v1": ComplaintStatus.answered,
    "jiesu.complaint.withdrawn.v1": ComplaintStatus.withdrawn,
}
_DETAIL_FIELDS = (
    "lead_unit_id",
    "co_unit_ids",
    "unit_id",
    "mode",
    "category_code",
    "sla_class",
    "reason",
    "method",
    "note",
    "reply",
    "result",
    "satisfaction",
    "resolved",
    "contacted",
    "level",
    "clock",
    "deadline",
    "resolve_by",
    "until",
    "participants",
    "decided_by",
    "role",
)
# The free text an event adds to the status it sets (shown as Open311's status_notes).
_STATUS_TEXT = {
    "jiesu.case.contacted.v1": "note",
    "jiesu.case.progressed.v1": "note",
    "jiesu.case.resolved.v1": "reply",
    "jiesu.complaint.reopened.v1": "reason",
}


async def apply_lifecycle_event(payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
    """Project another service's event onto the complaint's status and timeline."""
    assert isinstance(uow, IntakeUnitOfWork)
    complaint_id = uuid.UUID(event.subject)
    current = await uow.complaints.lock_status(complaint_id)
    if current is None:
        # Other services only learn of a complaint from intake's own committed event, so
        # an unknown id is a defect, not a race: fail and let the runner park it (DLQ).
        raise LookupError(f"complaint {complaint_id} is unknown to intake")
    await _project(uow, current, event)
    if event.type == "jiesu.complaint.closed.v1":
        await merges.close_duplicates(uow, complaint_id, event)  # duplicates follow the master


async def _project(uow: IntakeUnitOfWork, current: Any, event: CloudEvent) -> None:
    data = event.data
    round_no = _round_of(event)
    values: dict[str, Any] = {}
    current_round = (round_no or 0) >= current.status_round
    if event.type == "jiesu.complaint.assigned.v1" and current_round:
        values.update(
            lead_unit_id=data["lead_unit_id"],
            category_resolved=data["category_code"],
            resolve_by=datetime.fromisoformat(data["deadlines"]["resolve_by"]),
        )
    elif event.type == "jiesu.extension.granted.v1" and current_round:
        values.update(resolve_by=datetime.fromisoformat(data["resolve_by"]))
    status = STATUS_OF.get(event.type)
    if status is not None and _drives_status(event):
        here = domain.StatusPosition(ComplaintStatus(current.status), current.status_round)
        incoming = domain.StatusPosition(status, round_no or 0)
        after = domain.advance(here, incoming)
        if after != here:
            values.update(status=after.status.value, status_round=after.round)
        if after == incoming:
            text_field = _STATUS_TEXT.get(event.type)
            values.update(status_detail=data.get(text_field) if text_field else None)
    if values:
        values["updated_at"] = datetime.now(UTC)
    # The timeline entry and the status change in one statement; the change applies only
    # if the entry is new (a repeated event changes nothing).
    await uow.complaints.record_lifecycle(
        complaint_id=current.id,
        event_id=event.id,
        event_type=event.type,
        at=event.time,
        round_no=round_no,
        detail={k: data[k] for k in _DETAIL_FIELDS if k in data},
        values=values,
    )


def _round_of(event: CloudEvent) -> int | None:
    if event.type == "jiesu.complaint.reopened.v1":
        return int(event.data["next_round"])
    value = event.data.get("round")
    return int(value) if value is not None else None


def _drives_status(event: CloudEvent) -> bool:
    # Co-units' progress shows on the timeline but the lead unit's case sets the status.
    return not (event.type.startswith("jiesu.case.") and event.data.get("role") == "co")
