"""A reproducible past for metrics: weeks of complaints, handled, reviewed and closed.

Hot spots are measured against a place's own history, and trends need days behind them,
so tests project this history into metrics' database through metrics' own handlers (the
same code its consumer runs), as if the events had been read off the topics back then.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from jiesu_common.contracts import CloudEvent, make_event, parse_payload
from jiesu_common.contracts.envelope import EventPayload
from jiesu_common.contracts.events import (
    CaseAcceptedV1,
    CaseContactedV1,
    CaseResolvedV1,
    CaseReturnedV1,
    ComplaintAssignedV1,
    ComplaintClosedV1,
    ComplaintReceivedV1,
    ComplaintSummaryV1,
    DeadlinesV1,
    JurisdictionV1,
    LocationV1,
    MaskedCallerV1,
    ReturnApprovedV1,
    ReviewCompletedV1,
)

NS = uuid.UUID("0e6a3c1e-5b7d-4f0e-9a55-6b1f3d2c7a90")
# (community, street, district, first grid) of the demo city's seed.
PLACES = [
    ("C010101", "S0101", "D01", "G01010101"),
    ("C010102", "S0101", "D01", "G01010201"),
    ("C010201", "S0102", "D01", "G01020101"),
    ("C010202", "S0102", "D01", "G01020201"),
    ("C020101", "S0201", "D02", "G02010101"),
    ("C020102", "S0201", "D02", "G02010201"),
    ("C020201", "S0202", "D02", "G02020101"),
    ("C020202", "S0202", "D02", "G02020201"),
]
# (category, lead unit per street) — as the seeded routing rules give them.
TOPICS = [
    (
        "ENV-NOISE",
        {"S0101": "street-s0101", "S0102": "street-s0102", "S0201": "dept-cg-d02"}
        | {"S0202": "street-s0202"},
    ),
    (
        "CITY-GARBAGE",
        {"S0101": "street-s0101", "S0102": "dept-cg-d01", "S0201": "street-s0201"}
        | {"S0202": "street-s0202"},
    ),
    ("ROAD-DAMAGE", dict.fromkeys(("S0101", "S0102", "S0201", "S0202"), "dept-jt")),
    (
        "HOUSE-PROPERTY",
        {"S0101": "dept-zj-d01", "S0102": "dept-zj-d01", "S0201": "dept-zj-d02"}
        | {"S0202": "street-s0202"},
    ),
    ("PARK-GREEN", dict.fromkeys(("S0101", "S0102", "S0201", "S0202"), "dept-yl")),
]


def history(
    *, now: datetime, days: int = 56, per_day: int = 6, seed: int = 14
) -> Iterator[EventPayload]:
    """About ``per_day`` complaints a day spread over places and topics, all closed; one in
    ten is returned by its first unit and handled by the district government instead."""
    rng = random.Random(seed)
    for day in range(days, 0, -1):
        for n in range(per_day):
            received = now - timedelta(days=day, hours=rng.uniform(0, 10))
            community, street, district, grid = PLACES[rng.randrange(len(PLACES))]
            place = (community, street, district, grid[:-1] + rng.choice("12"))
            category, leads = TOPICS[rng.randrange(len(TOPICS))]
            cid = uuid.uuid5(NS, f"{seed}:{day}:{n}")
            # Reviewed (and closed) before now: nothing of the past is left running.
            latest = (now - received).total_seconds() / 3600 - 23
            yield from complaint_events(
                cid,
                ticket_no=f"H{seed:02d}{day:03d}{n:04d}",
                received=received,
                place=place,
                category=category,
                lead=leads[place[1]],
                caller_ref=f"h-caller-{rng.randrange(10_000)}",
                address=f"历史地址{rng.randrange(1000)}号",
                satisfied=rng.random() < 0.8,
                hours_to_resolve=min(rng.uniform(2, 96), latest),
                returned_to=f"gov-d0{district[-1]}" if rng.random() < 0.1 else None,
            )


def complaint_events(
    cid: uuid.UUID,
    *,
    ticket_no: str,
    received: datetime,
    place: tuple[str, str, str, str],
    category: str,
    lead: str,
    caller_ref: str,
    address: str,
    satisfied: bool = True,
    hours_to_resolve: float = 24,
    close: bool = True,
    returned_to: str | None = None,
) -> Iterator[EventPayload]:
    """One complaint's life from filing to closing (or to assignment when not ``close``);
    with ``returned_to``, the first unit returns it and that unit leads round 2."""
    summary = ComplaintSummaryV1(
        ticket_no=ticket_no,
        channel="phone",
        kind="complaint",
        urgency="normal",
        content="历史诉求",
        category_code=category,
        location=LocationV1(address=address),
        caller=MaskedCallerV1(caller_ref=caller_ref),
        received_at=received,
    )
    yield ComplaintReceivedV1(complaint_id=cid, summary=summary)
    assigned = received + timedelta(minutes=3)
    round_no = 1
    if returned_to is not None:
        yield _assigned(cid, 1, lead, category, assigned, summary, place)
        first: dict[str, Any] = {
            "complaint_id": cid,
            "case_id": uuid.uuid5(NS, f"{cid}:case:1"),
            "unit_id": lead,
            "round": 1,
        }
        yield CaseReturnedV1(
            **first,
            role="lead",
            reason="非本单位职责",
            returned_at=assigned + timedelta(minutes=30),
        )
        yield ReturnApprovedV1(
            **first,
            return_id=uuid.uuid5(NS, f"{cid}:return"),
            decided_by="dispatcher:history",
            decided_at=assigned + timedelta(minutes=50),
        )
        lead, round_no, assigned = returned_to, 2, assigned + timedelta(hours=1)
    yield _assigned(cid, round_no, lead, category, assigned, summary, place)
    if not close:
        return
    yield from _handled(cid, round_no, lead, assigned, satisfied, hours_to_resolve)


def _assigned(
    cid: uuid.UUID,
    round_no: int,
    lead: str,
    category: str,
    assigned: datetime,
    summary: ComplaintSummaryV1,
    place: tuple[str, str, str, str],
) -> ComplaintAssignedV1:
    community, street, district, grid = place
    return ComplaintAssignedV1(
        complaint_id=cid,
        assignment_id=uuid.uuid5(NS, f"{cid}:{round_no}"),
        round=round_no,
        lead_unit_id=lead,
        category_code=category,
        sla_class="general",
        deadlines=DeadlinesV1(
            accept_by=assigned + timedelta(hours=2),
            contact_by=assigned + timedelta(hours=24),
            resolve_by=assigned + timedelta(days=7),
            return_by=assigned + timedelta(hours=2),
        ),
        mode="auto",
        assigned_at=assigned,
        jurisdiction=JurisdictionV1(
            grid_code=grid, community_code=community, street_code=street, district_code=district
        ),
        summary=summary,
    )


def _handled(
    cid: uuid.UUID,
    round_no: int,
    lead: str,
    assigned: datetime,
    satisfied: bool,
    hours_to_resolve: float,
) -> Iterator[EventPayload]:
    case: dict[str, Any] = {
        "complaint_id": cid,
        "case_id": uuid.uuid5(NS, f"{cid}:case"),
        "unit_id": lead,
        "round": round_no,
        "role": "lead",
    }
    resolved = assigned + timedelta(hours=hours_to_resolve)
    yield CaseAcceptedV1(**case, accepted_at=assigned + timedelta(minutes=20))
    yield CaseContactedV1(**case, method="phone", contacted_at=assigned + timedelta(hours=1))
    yield CaseResolvedV1(**case, reply="已处理", resolved_at=resolved)
    review_id = uuid.uuid5(NS, f"{cid}:review")
    reviewed = resolved + timedelta(hours=20)
    yield ReviewCompletedV1(
        complaint_id=cid,
        review_id=review_id,
        round=round_no,
        lead_unit_id=lead,
        unit_ids=(lead,),
        contacted=True,
        resolved=True,
        satisfaction="satisfied" if satisfied else "dissatisfied",
        reviewer="reviewer:history",
        completed_at=reviewed,
    )
    yield ComplaintClosedV1(
        complaint_id=cid, review_id=review_id, round=round_no, closed_at=reviewed
    )


async def project(state: Any, payloads: Iterator[EventPayload], *, batch: int = 500) -> int:
    """Run metrics' handlers over the events, ``batch`` to a transaction; returns how many."""
    from jiesu_metrics.consumers import handler_table

    handlers = handler_table(state.projector)
    count = 0
    pending: list[CloudEvent] = [make_event(p) for p in payloads]
    for start in range(0, len(pending), batch):
        async with state.uow() as uow:
            for event in pending[start : start + batch]:
                await handlers[event.type](parse_payload(event), event, uow)
                count += 1
            await uow.commit()
    return count


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
