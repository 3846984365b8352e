"""Joint consultation (会商派单) and whistles (吹哨): the collaborative half of dispatch.

Units convened in a consultation post positions; a dispatcher decides the lead unit and
co-units of the next round. A consultation nobody decides by its deadline goes to the
district government of the complaint's place (兜底), once, from a periodic worker.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jiesu_common.auth import Principal
from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import (
    ComplaintSummaryV1,
    ConsultationDecidedV1,
    WhistleBlownV1,
    WhistleRequestedV1,
)
from jiesu_common.db.uow import UnitOfWork
from jiesu_common.http import Problem
from jiesu_dispatch.directory import Jurisdiction
from jiesu_dispatch.handlers import Dispatcher, DispatchUnitOfWork
from jiesu_dispatch.routing import RouteDecision, RoutingRule

log = logging.getLogger(__name__)

SYSTEM = "system"
FALLBACK_NOTE = (
    "会商逾期未决，由属地区政府兜底 / undecided by the deadline: the district government leads"
)
# Who sees every consultation; unit staff see only those their unit is invited to.
OVERSEERS = ("dispatcher", "admin", "supervisor", "operator")


def may_see(principal: Principal, consultation: Any) -> bool:
    """Overseers see all; a unit's staff only consultations their unit takes part in."""
    if principal.role == "unit_staff":
        return principal.unit_id in consultation.participants
    return principal.role in OVERSEERS


@dataclass
class Consultations:
    """Opening by hand, positions, decisions, the fallback, and recording whistles."""

    dispatcher: Dispatcher

    # --- the API ---------------------------------------------------------------------------

    async def open_by_hand(
        self,
        *,
        complaint_id: uuid.UUID,
        participants: tuple[str, ...],
        reason: str,
        deadline: datetime | None,
        opened_by: str,
        uow: DispatchUnitOfWork,
    ) -> Any:
        """A dispatcher convenes units on a complaint; the decision opens the next round."""
        unknown = [u for u in participants if u not in self.dispatcher.directory.units]
        if unknown:
            raise Problem.invalid(f"未知单位 / unknown unit(s): {', '.join(unknown)}")
        if len(set(participants)) < 2:
            raise Problem.invalid("会商至少需要两家单位 / a consultation needs two units or more")
        if deadline is not None and deadline <= datetime.now(UTC):
            raise Problem.invalid("会商时限须在将来 / deadline must be in the future")
        ref = await uow.dispatch.complaint(complaint_id, for_update=True)
        if ref is None:
            raise Problem.not_found(f"诉求 / complaint {complaint_id}")
        if ref.state in ("withdrawn", "closed"):
            raise Problem.conflict(
                "complaint-ended", f"诉求已结束（{ref.state}）/ the complaint has ended"
            )
        consultation_id = await self.dispatcher.convene(
            uow,
            complaint_id=complaint_id,
            round_no=ref.current_round + 1,
            participants=tuple(dict.fromkeys(participants)),
            reason=reason,
            trigger="manual",
            opened_by=opened_by,
            deadline=deadline,
        )
        if consultation_id is None:
            raise Problem.conflict(
                "consultation-open", "该诉求已在会商中 / already in consultation"
            )
        await uow.commit()
        return await self.read(consultation_id, uow=uow)

    async def visible(
        self, consultation_id: uuid.UUID, principal: Principal, uow: DispatchUnitOfWork
    ) -> Any:
        """The consultation, if the caller may see it; 404 otherwise (as if it did not exist)."""
        row = await uow.consultations.get(consultation_id)
        if row is None or not may_see(principal, row):
            raise Problem.not_found(f"会商 / consultation {consultation_id}")
        return row

    async def take_position(
        self,
        *,
        consultation_id: uuid.UUID,
        principal: Principal,
        position: str,
        reason: str,
        uow: DispatchUnitOfWork,
    ) -> dict[str, Any]:
        """A participant's staff say "we lead", "we co-handle" or "not ours"."""
        await self.visible(consultation_id, principal, uow)
        row = await uow.consultations.get(consultation_id, for_update=True)
        assert row is not None and principal.unit_id is not None
        if row.status != "open":
            raise _closed(row.status)
        await uow.consultations.add_position(
            {
                "consultation_id": consultation_id,
                "unit_id": principal.unit_id,
                "position": position,
                "reason": reason,
                "by": principal.subject,
                "at": datetime.now(UTC),
            }
        )
        await uow.commit()
        return await self.read(consultation_id, uow=uow)

    async def decide(
        self,
        *,
        consultation_id: uuid.UUID,
        lead_unit_id: str,
        co_unit_ids: tuple[str, ...],
        note: str | None,
        category_code: str | None,
        decided_by: str,
        uow: DispatchUnitOfWork,
    ) -> dict[str, Any]:
        """The dispatcher names the lead unit and co-units: a new round, mode consultation."""
        row = await uow.consultations.get(consultation_id, for_update=True)
        if row is None:
            raise Problem.not_found(f"会商 / consultation {consultation_id}")
        if row.status != "open":
            raise _closed(row.status)
        self.dispatcher.check_units(lead_unit_id, co_unit_ids)
        ref = await uow.dispatch.complaint(row.complaint_id, for_update=True)
        assert ref is not None
        category = category_code or ref.category_code
        if category not in self.dispatcher.directory.categories:
            raise Problem.invalid(f"请指定有效类别 / a valid category_code is needed: {category!r}")
        await self._settle(
            uow, row, ref, lead_unit_id, co_unit_ids, category, decided_by, note, fallback=False
        )
        await uow.commit()
        return await self.read(consultation_id, uow=uow)

    async def read(self, consultation_id: uuid.UUID, *, uow: DispatchUnitOfWork) -> dict[str, Any]:
        """A consultation with its positions."""
        [item] = await self.with_positions([await uow.consultations.get(consultation_id)], uow=uow)
        return item

    async def with_positions(
        self, rows: list[Any], *, uow: DispatchUnitOfWork
    ) -> list[dict[str, Any]]:
        """Consultation rows as dicts, each with its positions and each unit's latest."""
        positions = await uow.consultations.positions([r.consultation_id for r in rows])
        items = []
        for row in rows:
            own = [dict(p._mapping) for p in positions if p.consultation_id == row.consultation_id]
            items.append(
                dict(row._mapping)
                | {"positions": own, "latest_positions": {p["unit_id"]: p["position"] for p in own}}
            )
        return items

    # --- the fallback (兜底) ----------------------------------------------------------------

    async def fall_back_due(
        self, uow: DispatchUnitOfWork, *, now: datetime | None = None, limit: int = 100
    ) -> int:
        """Give every overdue consultation to its district government; returns how many."""
        now = now or datetime.now(UTC)
        due = await uow.consultations.claim_due(now, limit)
        if not due:
            return 0
        for row in due:
            ref = await uow.dispatch.complaint(row.complaint_id, for_update=True)
            if ref is None or ref.state in ("withdrawn", "closed"):
                await uow.consultations.update(row.consultation_id, status="cancelled")
                continue
            district = Jurisdiction(**ref.jurisdiction).district_code
            category = ref.category_code or "OTHER"
            if district is None or category not in self.dispatcher.directory.categories:
                # No place to fall back to: a human dispatcher takes it from the queue.
                await uow.consultations.update(
                    row.consultation_id,
                    status="fallen_back",
                    decided_by=SYSTEM,
                    decided_at=now,
                    note=FALLBACK_NOTE,
                )
                await self.dispatcher.queue(
                    uow, row.complaint_id, row.round, "consultation_unresolved", ()
                )
                continue
            government = self.dispatcher.directory.district_government(district).unit_id
            await self._settle(
                uow, row, ref, government, (), category, SYSTEM, FALLBACK_NOTE, fallback=True
            )
        await uow.commit()
        log.info("consultations fell back", extra={"count": len(due)})
        return len(due)

    # --- consumed events ---------------------------------------------------------------------

    async def record_whistle(
        self, payload: WhistleRequestedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """A street office's whistle (checked by department-response) is recorded and blown."""
        assert isinstance(uow, DispatchUnitOfWork)
        now = datetime.now(UTC)
        added = await uow.consultations.add_whistle(
            {
                "whistle_id": payload.whistle_id,
                "complaint_id": payload.complaint_id,
                "case_id": payload.case_id,
                "round": payload.round,
                "street_unit_id": payload.unit_id,
                "summoned_unit_ids": list(payload.summoned_unit_ids),
                "ask": payload.ask,
                "report_by": payload.report_by,
                "requested_by": payload.by,
                "blown_at": now,
            }
        )
        if not added:
            return
        uow.publish(
            WhistleBlownV1(
                complaint_id=payload.complaint_id,
                whistle_id=payload.whistle_id,
                case_id=payload.case_id,
                street_unit_id=payload.unit_id,
                summoned_unit_ids=payload.summoned_unit_ids,
                ask=payload.ask,
                report_by=payload.report_by,
                round=payload.round,
                blown_at=now,
            )
        )

    # --- helpers ---------------------------------------------------------------------------

    async def _settle(
        self,
        uow: DispatchUnitOfWork,
        row: Any,
        ref: Any,
        lead_unit_id: str,
        co_unit_ids: tuple[str, ...],
        category: str,
        decided_by: str,
        note: str | None,
        *,
        fallback: bool,
    ) -> None:
        """Close the consultation and assign its round: both events in one transaction."""
        now = datetime.now(UTC)
        co = tuple(dict.fromkeys(c for c in co_unit_ids if c != lead_unit_id))
        round_no = max(row.round, ref.current_round + 1)
        await uow.consultations.update(
            row.consultation_id,
            status="fallen_back" if fallback else "decided",
            lead_unit_id=lead_unit_id,
            co_unit_ids=list(co),
            decided_by=decided_by,
            decided_at=now,
            note=note,
        )
        uow.publish(
            ConsultationDecidedV1(
                complaint_id=row.complaint_id,
                consultation_id=row.consultation_id,
                lead_unit_id=lead_unit_id,
                co_unit_ids=co,
                decided_by=decided_by,
                fallback=fallback,
                note=note,
                decided_at=now,
                round=round_no,
            )
        )
        rule = RoutingRule(category=category, scope="consultation", lead=lead_unit_id, co_units=co)
        await self.dispatcher.assign(
            uow,
            complaint_id=row.complaint_id,
            round_no=round_no,
            summary=ComplaintSummaryV1.model_validate(ref.summary),
            jurisdiction=Jurisdiction(**ref.jurisdiction),
            category=category,
            decision=RouteDecision(lead_unit_id, co, rule),
            mode="consultation",
            assigned_by=decided_by,
            note=note,
            previous=await self.dispatcher.previous_lead(uow, row.complaint_id),
        )


def _closed(status: str) -> Problem:
    label = {"decided": "已决定", "fallen_back": "已兜底派单", "cancelled": "已取消"}.get(
        status, status
    )
    return Problem.conflict("consultation-closed", f"会商{label} / the consultation is {status}")
