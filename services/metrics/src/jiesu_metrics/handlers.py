"""metrics' service layer: projecting every topic's facts, and ticking the SLA clocks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import (
    ComplaintAnsweredV1,
    ComplaintAssignedV1,
    ConsultationDecidedV1,
    ConsultationOpenedV1,
    EscalationRaisedV1,
    ExtensionGrantedV1,
    PauseEndedV1,
    PauseGrantedV1,
    ReviewCompletedV1,
    SlaBreachedV1,
    SlaWarningV1,
    WhistleBlownV1,
    WhistleReportedV1,
)
from jiesu_common.db.uow import UnitOfWork
from jiesu_metrics import domain
from jiesu_metrics.domain import clock_id_for
from jiesu_metrics.repository import MetricsRepository

log = logging.getLogger(__name__)
SLA_FIRED = Counter("jiesu_sla_fired_total", "SLA warnings, breaches and escalations", ["kind"])
# Which case event stops which clock.
STOPS = {
    "jiesu.case.accepted.v1": ("accept", "accepted_at"),
    "jiesu.case.contacted.v1": ("contact", "contacted_at"),
    "jiesu.case.resolved.v1": ("resolve", "resolved_at"),
}


class MetricsUnitOfWork(UnitOfWork):
    """A unit of work with metrics' repository."""

    async def __aenter__(self) -> MetricsUnitOfWork:
        await super().__aenter__()
        self.metrics = MetricsRepository(self.session, self.connection)
        return self


@dataclass
class Projector:
    """Turns events into facts and clocks; the same state whatever order topics arrive in."""

    ladder: domain.Ladder
    # Level → the unit's contact roles told at that rung (empty: no messages).
    notice_recipients: dict[str, list[str]] = field(default_factory=dict)

    async def complaint_received(self, payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        """A complaint exists."""
        assert isinstance(uow, MetricsUnitOfWork)
        s = payload.summary
        await uow.metrics.complaint_fact(
            payload.complaint_id,
            ticket_no=s.ticket_no,
            channel=s.channel,
            kind=s.kind,
            received_at=s.received_at,
            caller_ref=s.caller.caller_ref,
            address=s.location.address,
            lat=s.location.lat,
            lon=s.location.lon,
            proactive=s.proactive,
            hotspot_key=s.hotspot_key,
        )

    async def complaint_answered(
        self, payload: ComplaintAnsweredV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """An inquiry answered at intake (直办): when, and from which article (an answered
        complaint has no received event, so its summary says what and when it was)."""
        assert isinstance(uow, MetricsUnitOfWork)
        s = payload.summary
        known = {"channel": s.channel, "kind": s.kind, "received_at": s.received_at} if s else {}
        await uow.metrics.complaint_fact(
            payload.complaint_id,
            ticket_no=payload.ticket_no,
            answered_at=payload.answered_at,
            article_id=payload.article_id,
            article_version=payload.article_version,
            article_title=payload.article_title,
            **known,
        )

    async def complaint_ended(self, payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        """Answered, withdrawn, merged or closed: remember when."""
        assert isinstance(uow, MetricsUnitOfWork)
        # complaint.answered → answered_at, …: the fact column is named as the payload's field.
        column = f"{event.type.split('.')[2]}_at"
        values = {column: getattr(payload, column)}
        if column == "merged_at":  # a duplicate counts in its master's hot spot
            values["master_id"] = payload.master_id
        if column == "closed_at":  # whose round it closed in: the misroute figures' last lead
            values["closed_round"] = payload.round
        await uow.metrics.complaint_fact(payload.complaint_id, **values)

    async def complaint_unmerged(self, payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        """A merge undone: the complaint counts on its own again (and, merged at filing, is
        known now for the first time)."""
        assert isinstance(uow, MetricsUnitOfWork)
        await self.complaint_received(payload, event, uow)
        await uow.metrics.unmerge_fact(payload.complaint_id)

    async def complaint_assigned(
        self, payload: ComplaintAssignedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """A round starts its clocks: accept for every unit, contact and resolve for the lead."""
        assert isinstance(uow, MetricsUnitOfWork)
        j = payload.jurisdiction
        # The first assignment's category and place stay (first value wins, in any order).
        fact = {
            "complaint_id": payload.complaint_id,
            "current_round": payload.round,
            "ticket_no": payload.summary.ticket_no,  # the ladder's messages name it
            "category_code": payload.category_code,
            "grid_code": j.grid_code,
            "community_code": j.community_code,
            "street_code": j.street_code,
            "district_code": j.district_code,
        }
        round_row = {
            "complaint_id": payload.complaint_id,
            "round": payload.round,
            "lead_unit_id": payload.lead_unit_id,
            "co_unit_ids": list(payload.co_unit_ids),
            "mode": payload.mode,
            "category_code": payload.category_code,
            "sla_class": payload.sla_class,
            "street_code": j.street_code,
            "district_code": j.district_code,
            "assigned_at": payload.assigned_at,
            "proactive": payload.summary.proactive,
        }
        d = payload.deadlines
        plan = [
            (payload.lead_unit_id, "lead", c, getattr(d, f"{c}_by"))
            for c in ("accept", "contact", "resolve")
        ]
        plan += [(u, "co", "accept", d.accept_by) for u in payload.co_unit_ids]
        started = payload.assigned_at
        rows = [
            {
                "clock_id": clock_id_for(payload.complaint_id, payload.round, unit_id, clock),
                "complaint_id": payload.complaint_id,
                "round": payload.round,
                "unit_id": unit_id,
                "clock": clock,
                "role": role,
                "started_at": started,
                "deadline": deadline,
                # As a new clock: right for all but one whose stop arrived first (below).
                "next_fire_at": domain.next_fire_at(
                    domain.ClockState(started, deadline, None, None, None, None, None),
                    self.ladder,
                ),
            }
            for unit_id, role, clock, deadline in plan
        ]
        for row in await uow.metrics.start_round(fact, round_row, rows):
            if not row.inserted:
                await self._reschedule(uow, row)

    async def case_acted(self, payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        """The unit accepted, contacted or resolved: that clock stops."""
        assert isinstance(uow, MetricsUnitOfWork)
        clock, at = STOPS[event.type]
        if clock != "accept" and payload.role != "lead":
            return
        # A stopped clock never fires again (domain.next_fire_at): the upsert says so at
        # once, and the reschedule below finds nothing left to write. A unit acting on
        # round n proves round n exists, even before its assignment is seen (round_seen).
        row = await uow.metrics.merge_clock(
            payload.complaint_id,
            payload.round,
            payload.unit_id,
            clock,
            round_seen=True,
            case_id=payload.case_id,
            stopped_at=getattr(payload, at),
            next_fire_at=None,
        )
        await self._reschedule(uow, row)

    async def extension_granted(
        self, payload: ExtensionGrantedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """An approved extension moves the unit's resolve deadline."""
        assert isinstance(uow, MetricsUnitOfWork)
        row = await uow.metrics.merge_clock(
            payload.complaint_id,
            payload.round,
            payload.unit_id,
            "resolve",
            extended_deadline=payload.resolve_by,
        )
        await self._reschedule(uow, row)

    async def pause_granted(
        self, payload: PauseGrantedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """挂起: the unit's running clocks of the round stop until the pause ends."""
        assert isinstance(uow, MetricsUnitOfWork)
        await uow.metrics.add_pause(
            {
                "pause_id": payload.pause_id,
                "complaint_id": payload.complaint_id,
                "round": payload.round,
                "unit_id": payload.unit_id,
                "paused_at": payload.paused_at,
                "until": payload.until,
            }
        )
        for row in await uow.metrics.unit_clocks(
            payload.complaint_id, payload.round, payload.unit_id
        ):
            await self._save_pause(
                uow, row, domain.start_pause(clock_state(row), payload.paused_at, payload.until)
            )

    async def pause_ended(self, payload: PauseEndedV1, event: CloudEvent, uow: UnitOfWork) -> None:
        """Resumed by action before its date: the clocks run again, later by the pause."""
        assert isinstance(uow, MetricsUnitOfWork)
        await uow.metrics.end_pause(payload.pause_id, payload.ended_at)
        for row in await uow.metrics.unit_clocks(
            payload.complaint_id, payload.round, payload.unit_id
        ):
            await self._save_pause(uow, row, domain.end_pause(clock_state(row), payload.ended_at))

    async def _save_pause(self, uow: MetricsUnitOfWork, row: Any, after: domain.ClockState) -> None:
        await uow.metrics.set_clock(
            row.clock_id,
            paused_at=after.paused_at,
            pause_until=after.pause_until,
            paused_s=after.paused_s,
            next_fire_at=domain.next_fire_at(after, self.ladder),
        )

    async def case_returned(self, payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        """A unit returned its case."""
        assert isinstance(uow, MetricsUnitOfWork)
        await uow.metrics.merge_return(
            payload.case_id,
            complaint_id=payload.complaint_id,
            round=payload.round,
            unit_id=payload.unit_id,
            returned_at=payload.returned_at,
        )

    async def return_decided(self, payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        """The centre approved or rejected a return."""
        assert isinstance(uow, MetricsUnitOfWork)
        await uow.metrics.merge_return(
            payload.case_id,
            complaint_id=payload.complaint_id,
            round=payload.round,
            unit_id=payload.unit_id,
            decision="approved" if event.type == "jiesu.return.approved.v1" else "rejected",
        )

    async def consultation_opened(
        self, payload: ConsultationOpenedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """A consultation counts for every participant in the month it opened."""
        assert isinstance(uow, MetricsUnitOfWork)
        await uow.metrics.merge_consultation(
            payload.consultation_id,
            complaint_id=payload.complaint_id,
            round=payload.round,
            participants=list(payload.participants),
            opened_at=payload.opened_at,
            deadline=payload.deadline,
        )

    async def consultation_decided(
        self, payload: ConsultationDecidedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """Decided by a dispatcher (in time or not), or fallen back to the district."""
        assert isinstance(uow, MetricsUnitOfWork)
        await uow.metrics.merge_consultation(
            payload.consultation_id,
            complaint_id=payload.complaint_id,
            decided_at=payload.decided_at,
            fallback=payload.fallback,
            lead_unit_id=payload.lead_unit_id,
        )

    async def whistle_blown(
        self, payload: WhistleBlownV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """Each summoned unit's report-in clock starts, due at the whistle's report-by."""
        assert isinstance(uow, MetricsUnitOfWork)
        await uow.metrics.add_whistle(
            {
                "whistle_id": payload.whistle_id,
                "complaint_id": payload.complaint_id,
                "round": payload.round,
                "street_unit_id": payload.street_unit_id,
                "summoned_unit_ids": list(payload.summoned_unit_ids),
                "report_by": payload.report_by,
                "blown_at": payload.blown_at,
            }
        )
        for unit_id in payload.summoned_unit_ids:
            row = await uow.metrics.merge_clock(
                payload.complaint_id,
                payload.round,
                unit_id,
                "report_in",
                role="summoned",
                started_at=payload.blown_at,
                deadline=payload.report_by,
            )
            await self._reschedule(uow, row)

    async def whistle_reported(
        self, payload: WhistleReportedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """The summoned unit reported in: its report-in clock stops."""
        assert isinstance(uow, MetricsUnitOfWork)
        row = await uow.metrics.merge_clock(
            payload.complaint_id,
            payload.round,
            payload.unit_id,
            "report_in",
            case_id=payload.case_id,
            stopped_at=payload.reported_at,
        )
        await self._reschedule(uow, row)

    async def review_completed(
        self, payload: ReviewCompletedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """A callback's answers feed the three rates."""
        assert isinstance(uow, MetricsUnitOfWork)
        await uow.metrics.add_review(
            {
                "review_id": payload.review_id,
                "complaint_id": payload.complaint_id,
                "round": payload.round,
                "lead_unit_id": payload.lead_unit_id,
                "contacted": payload.contacted,
                "resolved": payload.resolved,
                "satisfaction": payload.satisfaction,
                "completed_at": payload.completed_at,
            }
        )

    async def _reschedule(self, uow: MetricsUnitOfWork, row: Any) -> None:
        next_fire_at = domain.next_fire_at(clock_state(row), self.ladder)
        if next_fire_at != row.next_fire_at:  # the row is locked by the write that read it
            await uow.metrics.set_clock(row.clock_id, next_fire_at=next_fire_at)

    # --- the ticker ----------------------------------------------------------------------

    async def tick(
        self, uow: MetricsUnitOfWork, *, now: datetime | None = None, limit: int = 500
    ) -> int:
        """Fire every due rung of every due clock; returns how many events were emitted."""
        now = now or datetime.now(UTC)
        due = await uow.metrics.claim_due_clocks(now, limit)
        if not due:
            return 0  # nothing to write: leaving the unit of work rolls the read back
        emitted = 0
        notices: list[dict[str, Any]] = []
        for row in due:
            firings, after = domain.fire(clock_state(row), now, self.ladder)
            for firing in firings:
                uow.publish(_event(firing, row, after, now))
                SLA_FIRED.labels(firing).inc()
                notices += self._notices(firing, row, after, now)
            emitted += len(firings)
            await uow.metrics.set_clock(
                row.clock_id,
                warned_at=after.warned_at,
                breached_at=after.breached_at,
                level=after.level,
                level_at=now if after.level != row.level else row.level_at,
                paused_at=after.paused_at,
                pause_until=after.pause_until,
                paused_s=after.paused_s,
                next_fire_at=domain.next_fire_at(after, self.ladder),
            )
        # Owed in the transaction that raises the rung: once, whatever restarts follow.
        await uow.metrics.add_notifications(notices)
        await uow.commit()
        return emitted

    def _notices(
        self, firing: str, row: Any, after: domain.ClockState, now: datetime
    ) -> list[dict[str, Any]]:
        """The pending messages a rung owes, one per recipient role."""
        deadline = after.effective_deadline
        about = {
            "clock_id": str(row.clock_id),
            "unit_id": row.unit_id,
            "round": row.round,
            "clock": row.clock,
            "level": firing,
            "deadline": deadline.isoformat() if deadline else None,
        }
        return [
            {
                "notification_id": domain.notification_id_for(
                    row.complaint_id, row.round, row.unit_id, firing, role
                ),
                "kind": f"escalation.{firing}",
                "complaint_id": row.complaint_id,
                "about": about,
                "recipient_role": role,
                "status": "pending",
                "next_attempt_at": now,
                "created_at": now,
            }
            for role in self.notice_recipients.get(firing, ())
        ]


def clock_state(row: Any) -> domain.ClockState:
    """The rules' view of a clock row."""
    return domain.ClockState(
        started_at=row.started_at,
        deadline=row.deadline,
        extended_deadline=row.extended_deadline,
        stopped_at=row.stopped_at,
        warned_at=row.warned_at,
        breached_at=row.breached_at,
        level=row.level,
        paused_at=row.paused_at,
        pause_until=row.pause_until,
        paused_s=row.paused_s or 0.0,
    )


def _event(firing: str, row: Any, after: domain.ClockState, now: datetime) -> Any:
    common = {
        "complaint_id": row.complaint_id,
        "unit_id": row.unit_id,
        "round": row.round,
        "clock": row.clock,
        "deadline": after.effective_deadline,
        "case_id": row.case_id,
    }
    if firing == "warning":
        return SlaWarningV1(**common, warned_at=now)
    if firing == "breached":
        return SlaBreachedV1(**common, breached_at=now)
    return EscalationRaisedV1(**common, level=firing, raised_at=now)
