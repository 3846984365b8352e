"""The loop back to dispatch: returns, extensions, reopened and closed complaints."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import (
    CaseExtensionRequestedV1,
    CaseReturnedV1,
    ComplaintAssignedV1,
    ComplaintReceivedV1,
    ComplaintReopenedV1,
    ComplaintSummaryV1,
    ComplaintUnmergedV1,
    ExtensionDeniedV1,
    ExtensionGrantedV1,
    ReturnApprovedV1,
    ReturnRejectedV1,
)
from jiesu_common.db.uow import UnitOfWork
from jiesu_common.http import Problem
from jiesu_dispatch.directory import Jurisdiction
from jiesu_dispatch.handlers import Dispatcher, DispatchUnitOfWork
from jiesu_dispatch.learning.service import record_closed
from jiesu_dispatch.routing import RouteDecision, RoutingRule, Unroutable, reroute

log = logging.getLogger(__name__)
SYSTEM = "system"


@dataclass
class LoopBack:
    """Handles what comes back to the centre after an assignment."""

    dispatcher: Dispatcher

    # --- consumed events -----------------------------------------------------------------

    async def record_return(
        self, payload: CaseReturnedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """A unit's return waits in the return-review queue, or goes to a consultation.

        A lead unit decided by consultation cannot return (department refuses; one that
        arrives anyway is ignored). A return the centre already rejected, made again, and
        a complaint returned for the second time are settled jointly (会商), not by one
        more return decision.
        """
        assert isinstance(uow, DispatchUnitOfWork)
        ref = await uow.dispatch.complaint(payload.complaint_id, for_update=True)
        rounds = {r.round: r for r in await uow.dispatch.assignments_of(payload.complaint_id)}
        returned_round = rounds.get(payload.round)
        if returned_round is not None and returned_round.mode == "consultation":
            log.warning("return of a unit decided by consultation ignored")
            return
        earlier = await uow.dispatch.returns_of(payload.complaint_id)
        disputed = any(r.case_id == payload.case_id and r.status == "rejected" for r in earlier)
        second = any(r.round < payload.round for r in earlier)
        live = (
            ref is not None
            and ref.current_round == payload.round
            and ref.state not in ("withdrawn", "closed")
        )
        if live and (disputed or second):
            await self._convene_on_return(uow, ref, payload, earlier, disputed=disputed)
            return
        await uow.dispatch.add_request(
            "returns",
            {
                "return_id": uuid.uuid5(payload.case_id, "return"),
                "case_id": payload.case_id,
                "complaint_id": payload.complaint_id,
                "round": payload.round,
                "unit_id": payload.unit_id,
                "reason": payload.reason,
                "evidence": payload.evidence,
                "returned_at": payload.returned_at,
                "status": "pending",
            },
        )

    async def record_extension_request(
        self, payload: CaseExtensionRequestedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """A unit's extension request waits for the centre."""
        assert isinstance(uow, DispatchUnitOfWork)
        await uow.dispatch.add_request(
            "extensions",
            {
                "extension_id": event.id,
                "case_id": payload.case_id,
                "complaint_id": payload.complaint_id,
                "round": payload.round,
                "unit_id": payload.unit_id,
                "until": payload.until,
                "reason": payload.reason,
                "requested_at": payload.requested_at,
                "status": "pending",
            },
        )

    async def unmerge_complaint(
        self, payload: ComplaintUnmergedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """Unmerged: routed anew, as a new complaint (merged at filing, dispatch never saw it)
        or in a new round (merged by hand after it was routed)."""
        assert isinstance(uow, DispatchUnitOfWork)
        ref = await uow.dispatch.complaint(payload.complaint_id, for_update=True)
        if ref is None:
            received = ComplaintReceivedV1(
                complaint_id=payload.complaint_id, summary=payload.summary
            )
            await self.dispatcher.route_complaint(received, event, uow)
            return
        if ref.state != "merged":
            return
        await uow.dispatch.update_complaint(payload.complaint_id, state="received")
        await self._route_again(
            uow,
            ref,
            ref.current_round + 1,
            exclude=frozenset(),
            note=f"撤销合并 / unmerged: {payload.note}",
        )

    async def reopen_complaint(
        self, payload: ComplaintReopenedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """重办: a new round, to the same lead unit (and co-units) as the reviewed round."""
        assert isinstance(uow, DispatchUnitOfWork)
        ref = await uow.dispatch.complaint(payload.complaint_id, for_update=True)
        if ref is None or ref.state == "withdrawn":
            log.warning("reopened complaint unknown to dispatch or withdrawn; ignored")
            return
        round_no = max(payload.next_round, ref.current_round + 1)
        rounds = await uow.dispatch.assignments_of(payload.complaint_id)
        reviewed = next(
            (r for r in rounds if r.round == payload.round), rounds[-1] if rounds else None
        )
        if reviewed is None:
            # Answered at intake, never assigned: route it now like a new complaint.
            await self._route_again(uow, ref, round_no, exclude=frozenset(), note="重办 / reopened")
            return
        rule = RoutingRule(
            category=reviewed.category_code, scope="reopen", lead=reviewed.lead_unit_id
        )
        await self.dispatcher.assign(
            uow,
            complaint_id=payload.complaint_id,
            round_no=round_no,
            summary=ComplaintSummaryV1.model_validate(ref.summary),
            jurisdiction=Jurisdiction(**ref.jurisdiction),
            category=reviewed.category_code,
            decision=RouteDecision(reviewed.lead_unit_id, tuple(reviewed.co_unit_ids), rule),
            mode="auto",
            assigned_by=None,
            note=f"重办 / reopened: {payload.reason}",
            previous=reviewed.lead_unit_id,
        )

    async def close_complaint(self, payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        """The review closed the complaint: it becomes training history."""
        assert isinstance(uow, DispatchUnitOfWork)
        ref, rounds = await uow.dispatch.close_complaint(payload.complaint_id)
        await record_closed(uow, payload.complaint_id, payload.closed_at, ref=ref, rounds=rounds)

    # --- the centre's decisions ----------------------------------------------------------

    async def decide_return(
        self,
        *,
        return_id: uuid.UUID,
        approve: bool,
        note: str | None,
        lead_unit_id: str | None,
        co_unit_ids: tuple[str, ...],
        decided_by: str,
        uow: DispatchUnitOfWork,
    ) -> Any:
        """Approve (re-route without the returning unit) or reject (back to the unit)."""
        ret = await uow.dispatch.request("returns", return_id, for_update=True)
        if ret is None:
            raise Problem.not_found(f"退单 / return {return_id}")
        if ret.status != "pending":
            raise Problem.conflict("return-decided", f"退单已处理（{ret.status}）/ already decided")
        ref = await uow.dispatch.complaint(ret.complaint_id, for_update=True)
        if ref is None or ref.current_round != ret.round or ref.state in ("withdrawn", "closed"):
            raise Problem.conflict(
                "return-stale", "该轮次已结束，退单不再适用 / the returned round is over"
            )
        now = datetime.now(UTC)
        decision = {
            "case_id": ret.case_id,
            "unit_id": ret.unit_id,
            "round": ret.round,
            "decided_by": decided_by,
            "note": note,
            "decided_at": now,
            "return_id": return_id,
            "complaint_id": ret.complaint_id,
        }
        values: dict[str, Any] = {"decided_by": decided_by, "decided_at": now, "note": note}
        if not approve:
            uow.publish(ReturnRejectedV1(**decision))
            await uow.dispatch.decide_request("returns", return_id, status="rejected", **values)
            await uow.commit()
            return await uow.dispatch.request("returns", return_id)
        await uow.dispatch.decide_request("returns", return_id, status="approved", **values)
        uow.publish(ReturnApprovedV1(**decision))
        exclude = await uow.dispatch.returned_units(ret.complaint_id)
        assigned = await self._reassign(
            uow, ref, ret.round + 1, exclude, lead_unit_id, co_unit_ids, decided_by, note
        )
        if assigned is not None:
            await uow.dispatch.decide_request(
                "returns",
                return_id,
                new_round=assigned.round,
                new_lead_unit_id=assigned.lead_unit_id,
            )
        await uow.commit()
        return await uow.dispatch.request("returns", return_id)

    async def decide_extension(
        self,
        *,
        extension_id: uuid.UUID,
        grant: bool,
        note: str | None,
        resolve_by: datetime | None,
        decided_by: str,
        uow: DispatchUnitOfWork,
    ) -> Any:
        """Grant (the resolve deadline moves, by default to the date asked for) or deny."""
        ext = await uow.dispatch.request("extensions", extension_id, for_update=True)
        if ext is None:
            raise Problem.not_found(f"延期申请 / extension {extension_id}")
        if ext.status != "pending":
            raise Problem.conflict(
                "extension-decided", f"延期申请已处理（{ext.status}）/ already decided"
            )
        now = datetime.now(UTC)
        common = {
            "complaint_id": ext.complaint_id,
            "case_id": ext.case_id,
            "unit_id": ext.unit_id,
            "round": ext.round,
            "decided_by": decided_by,
            "note": note,
            "decided_at": now,
            "extension_id": extension_id,
        }
        values: dict[str, Any] = {"decided_by": decided_by, "decided_at": now, "note": note}
        if grant:
            until = resolve_by or ext.until
            if until <= now:
                raise Problem.invalid("延期后的时限须在将来 / resolve_by must be in the future")
            uow.publish(ExtensionGrantedV1(**common, resolve_by=until))
            values.update(status="granted", resolve_by=until)
        else:
            uow.publish(ExtensionDeniedV1(**common))
            values.update(status="denied")
        await uow.dispatch.decide_request("extensions", extension_id, **values)
        await uow.commit()
        return await uow.dispatch.request("extensions", extension_id)

    # --- helpers ---------------------------------------------------------------------------

    async def _convene_on_return(
        self,
        uow: DispatchUnitOfWork,
        ref: Any,
        payload: CaseReturnedV1,
        earlier: list[Any],
        *,
        disputed: bool,
    ) -> None:
        """Convene the returning unit(s) and the unit routing would pick next."""
        returners = tuple(dict.fromkeys([*(r.unit_id for r in earlier), payload.unit_id]))
        participants = returners
        if ref.category_code is not None:
            candidate = reroute(
                category_code=ref.category_code,
                jurisdiction=Jurisdiction(**ref.jurisdiction),
                rules=await self.dispatcher.rules(uow),
                directory=self.dispatcher.directory,
                exclude=frozenset(returners),
            )
            if isinstance(candidate, RouteDecision):
                participants = (*returners, candidate.lead_unit_id)
        if disputed:
            reason = f"退单被驳回后再次退单，需会商 / return disputed again: {payload.reason}"
        else:
            reason = f"诉求第二次被退回，需会商 / returned a second time: {payload.reason}"
            await uow.dispatch.add_request(
                "returns",
                {
                    "return_id": uuid.uuid5(payload.case_id, "return"),
                    "case_id": payload.case_id,
                    "complaint_id": payload.complaint_id,
                    "round": payload.round,
                    "unit_id": payload.unit_id,
                    "reason": payload.reason,
                    "evidence": payload.evidence,
                    "returned_at": payload.returned_at,
                    "status": "consultation",
                },
            )
        await self.dispatcher.convene(
            uow,
            complaint_id=payload.complaint_id,
            round_no=payload.round + 1,
            participants=participants,
            reason=reason,
            trigger="disputed_return" if disputed else "second_return",
            opened_by=SYSTEM,
        )

    async def _reassign(
        self,
        uow: DispatchUnitOfWork,
        ref: Any,
        round_no: int,
        exclude: frozenset[str],
        lead_unit_id: str | None,
        co_unit_ids: tuple[str, ...],
        decided_by: str,
        note: str | None,
    ) -> ComplaintAssignedV1 | None:
        if lead_unit_id is None:
            return await self._route_again(
                uow,
                ref,
                round_no,
                exclude=exclude,
                note=note or "退单改派 / re-routed after return",
            )
        if lead_unit_id in exclude:
            raise Problem.invalid(f"{lead_unit_id} 已退回此诉求 / this unit returned the complaint")
        self.dispatcher.check_units(lead_unit_id, co_unit_ids)
        rule = RoutingRule(category=ref.category_code, scope="manual", lead=lead_unit_id)
        co = tuple(c for c in co_unit_ids if c != lead_unit_id)
        return await self.dispatcher.assign(
            uow,
            complaint_id=ref.complaint_id,
            round_no=round_no,
            summary=ComplaintSummaryV1.model_validate(ref.summary),
            jurisdiction=Jurisdiction(**ref.jurisdiction),
            category=ref.category_code,
            decision=RouteDecision(lead_unit_id, co, rule),
            mode="manual",
            assigned_by=decided_by,
            note=note,
            previous=await self.dispatcher.previous_lead(uow, ref.complaint_id),
        )

    async def _route_again(
        self,
        uow: DispatchUnitOfWork,
        ref: Any,
        round_no: int,
        *,
        exclude: frozenset[str],
        note: str,
    ) -> ComplaintAssignedV1 | None:
        """Route by the rules without the excluded units; queue for a human when none fits."""
        jurisdiction = Jurisdiction(**ref.jurisdiction)
        category = ref.category_code
        if category is None:
            await self.dispatcher.queue(uow, ref.complaint_id, round_no, "unclassified", ())
            return None
        decision = reroute(
            category_code=category,
            jurisdiction=jurisdiction,
            rules=await self.dispatcher.rules(uow),
            directory=self.dispatcher.directory,
            exclude=exclude,
        )
        if isinstance(decision, Unroutable):
            await self.dispatcher.queue(
                uow, ref.complaint_id, round_no, decision.reason, (category,)
            )
            return None
        return await self.dispatcher.assign(
            uow,
            complaint_id=ref.complaint_id,
            round_no=round_no,
            summary=ComplaintSummaryV1.model_validate(ref.summary),
            jurisdiction=jurisdiction,
            category=category,
            decision=decision,
            mode="auto",
            assigned_by=None,
            note=note,
            previous=await self.dispatcher.previous_lead(uow, ref.complaint_id),
        )
