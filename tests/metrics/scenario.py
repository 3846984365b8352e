"""A fixed story of three complaints as the four producing topics carry it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from jiesu_common.contracts import CloudEvent, make_event
from jiesu_common.contracts.envelope import EventPayload
from jiesu_common.contracts.events import (
    CaseAcceptedV1,
    CaseContactedV1,
    CaseResolvedV1,
    CaseReturnedV1,
    ComplaintAnsweredV1,
    ComplaintAssignedV1,
    ComplaintClosedV1,
    ComplaintReceivedV1,
    ComplaintReopenedV1,
    ComplaintSummaryV1,
    ConsultationOpenedV1,
    DeadlinesV1,
    ExtensionGrantedV1,
    JurisdictionV1,
    LocationV1,
    MaskedCallerV1,
    ReturnApprovedV1,
    ReviewCompletedV1,
)

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Beijing
NS = uuid.UUID("3f0b5a9e-8f59-4a43-9b0c-0d5a4d0b7a01")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def summary(n: int) -> ComplaintSummaryV1:
    return ComplaintSummaryV1(
        ticket_no=f"20261102{n:06d}",
        channel="phone",
        kind="complaint",
        urgency="normal",
        content=f"诉求{n}",
        category_code="ROAD-DAMAGE",
        location=LocationV1(grid_code="G01010101"),
        caller=MaskedCallerV1(caller_ref=f"c{n}"),
        received_at=at(0),
    )


def assigned(
    cid: uuid.UUID, n: int, rnd: int, lead: str, co: tuple[str, ...], start: float
) -> ComplaintAssignedV1:
    return ComplaintAssignedV1(
        complaint_id=cid,
        assignment_id=uuid.uuid5(NS, f"{cid}:{rnd}"),
        round=rnd,
        lead_unit_id=lead,
        co_unit_ids=co,
        category_code="ROAD-DAMAGE",
        sla_class="general",
        deadlines=DeadlinesV1(
            accept_by=at(start + 120),
            contact_by=at(start + 1440),
            resolve_by=at(start + 7 * 1440),
            return_by=at(start + 120),
        ),
        mode="auto",
        assigned_at=at(start),
        jurisdiction=JurisdictionV1(street_code="S0101", district_code="D01"),
        summary=summary(n),
    )


def consultation_opened(cid: uuid.UUID, now: datetime) -> ConsultationOpenedV1:
    """A first-round consultation (会商) of two units over a tie in the routing rules."""
    return ConsultationOpenedV1(
        complaint_id=cid,
        consultation_id=uuid.uuid4(),
        round=1,
        participants=("dept-cg-d01", "dept-hj"),
        reason="派单规则认定多家主办单位",
        deadline=now + timedelta(hours=4),
        opened_at=now,
        trigger="tie",
        summary=summary(1),
        category_code="ENV-SMOKE",
    )


def case(cid: uuid.UUID, rnd: int, unit: str, role: str | None = "lead") -> dict[str, object]:
    """The fields naming one case (``role`` only on the department's own events)."""
    fields: dict[str, object] = {
        "complaint_id": cid,
        "case_id": uuid.uuid5(NS, f"{cid}:{rnd}:{unit}"),
        "unit_id": unit,
        "round": rnd,
    }
    return fields | ({"role": role} if role else {})


def story() -> dict[str, list[CloudEvent]]:
    """Per topic, in the order that topic carries them."""
    c1, c2, c3, c4 = (uuid.uuid5(NS, f"complaint-{n}") for n in (1, 2, 3, 4))
    intake: list[EventPayload] = [
        ComplaintReceivedV1(complaint_id=c, summary=summary(n))
        for n, c in enumerate((c1, c2, c3, c4), 1)
    ]
    intake.append(
        ComplaintAnsweredV1(
            complaint_id=c3,
            ticket_no="20261102000003",
            answer="已答复",
            answered_by="op",
            answered_at=at(5),
        )
    )
    review1 = uuid.uuid5(NS, "review-1-2")
    decision = {"decided_by": "dispatcher:1", "decided_at": at(40)}
    dispatch: list[EventPayload] = [
        assigned(c1, 1, 1, "dept-jt", ("street-s0101",), 1),
        assigned(c2, 2, 1, "dept-cg-d01", (), 1),
        assigned(c4, 4, 1, "dept-hj", (), 2),  # nobody ever acts on this one
        ReturnApprovedV1(
            **case(c1, 1, "dept-jt", None), return_id=uuid.uuid5(NS, "ret"), **decision
        ),  # type: ignore[arg-type]
        assigned(c1, 1, 2, "gov-d01", (), 41),
        assigned(c1, 1, 3, "gov-d01", (), 600),
        ExtensionGrantedV1(
            **case(c1, 3, "gov-d01", None),  # type: ignore[arg-type]
            extension_id=uuid.uuid5(NS, "ext"),
            resolve_by=at(600 + 20 * 1440),
            decided_by="dispatcher:1",
            decided_at=at(700),
        ),
    ]
    department: list[EventPayload] = [
        CaseAcceptedV1(**case(c1, 1, "dept-jt"), accepted_at=at(10)),  # type: ignore[arg-type]
        CaseReturnedV1(**case(c1, 1, "dept-jt"), reason="非本单位", returned_at=at(20)),  # type: ignore[arg-type]
        CaseAcceptedV1(**case(c2, 1, "dept-cg-d01"), accepted_at=at(200)),  # type: ignore[arg-type]
        CaseAcceptedV1(**case(c1, 2, "gov-d01"), accepted_at=at(50)),  # type: ignore[arg-type]
        CaseContactedV1(**case(c1, 2, "gov-d01"), method="phone", contacted_at=at(60)),  # type: ignore[arg-type]
        CaseResolvedV1(**case(c1, 2, "gov-d01"), reply="已修", resolved_at=at(300)),  # type: ignore[arg-type]
        CaseResolvedV1(**case(c2, 1, "dept-cg-d01"), reply="已处理", resolved_at=at(400)),  # type: ignore[arg-type]
        CaseAcceptedV1(**case(c1, 3, "gov-d01"), accepted_at=at(610)),  # type: ignore[arg-type]
        CaseResolvedV1(**case(c1, 3, "gov-d01"), reply="再修", resolved_at=at(900)),  # type: ignore[arg-type]
        # A co-unit signing for its old round's case late, after the complaint moved on.
        CaseAcceptedV1(**case(c1, 1, "street-s0101", "co"), accepted_at=at(950)),  # type: ignore[arg-type]
    ]
    review: list[EventPayload] = [
        ReviewCompletedV1(
            complaint_id=c1,
            review_id=review1,
            round=2,
            lead_unit_id="gov-d01",
            unit_ids=("gov-d01",),
            contacted=True,
            resolved=False,
            satisfaction="dissatisfied",
            reviewer="r",
            completed_at=at(500),
        ),
        ComplaintReopenedV1(
            complaint_id=c1,
            review_id=review1,
            round=2,
            next_round=3,
            reason="未解决",
            reopened_at=at(500),
        ),
        ReviewCompletedV1(
            complaint_id=c2,
            review_id=uuid.uuid5(NS, "review-2-1"),
            round=1,
            lead_unit_id="dept-cg-d01",
            unit_ids=("dept-cg-d01",),
            contacted=False,
            resolved=True,
            satisfaction="basically_satisfied",
            reviewer="r",
            completed_at=at(520),
        ),
        ComplaintClosedV1(
            complaint_id=c2, review_id=uuid.uuid5(NS, "review-2-1"), round=1, closed_at=at(520)
        ),
        ReviewCompletedV1(
            complaint_id=c1,
            review_id=uuid.uuid5(NS, "review-1-3"),
            round=3,
            lead_unit_id="gov-d01",
            unit_ids=("gov-d01",),
            contacted=True,
            resolved=True,
            satisfaction="satisfied",
            reviewer="r",
            completed_at=at(1000),
        ),
        ComplaintClosedV1(
            complaint_id=c1, review_id=uuid.uuid5(NS, "review-1-3"), round=3, closed_at=at(1000)
        ),
    ]
    topics = {"intake": intake, "dispatch": dispatch, "department": department, "review": review}
    return {
        name: [make_event(p, time=at(0)) for p in payloads] for name, payloads in topics.items()
    }
