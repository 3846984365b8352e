"""The loop back to dispatch against a real PostgreSQL: returns, extensions, reopens."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from jiesu_common.contracts import make_event
from jiesu_common.contracts.events import (
    CaseExtensionRequestedV1,
    CaseReturnedV1,
    ComplaintAnsweredV1,
    ComplaintReopenedV1,
)
from jiesu_dispatch.loopback import LoopBack

from .conftest import bearer
from .test_dispatch_service import _received, _route

DISPATCHER = bearer("dispatcher")


async def _feed(client: httpx.AsyncClient, handler: str, payload: Any) -> list[dict[str, Any]]:
    state = client.app.state.dispatch  # type: ignore[attr-defined]
    async with state.context.uow() as uow:
        await getattr(LoopBack(state.dispatcher), handler)(payload, make_event(payload), uow)
        events = [e.model_dump(mode="json") for e in uow.pending_events]
        await uow.commit()
    return events


async def _outbox(client: httpx.AsyncClient, complaint_id: uuid.UUID) -> list[dict[str, Any]]:
    """The complaint's events after its first assignment (no relay runs in these tests)."""
    state = client.app.state.dispatch  # type: ignore[attr-defined]
    async with state.context.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT event_type, payload FROM outbox WHERE key = :k ORDER BY id"),
            {"k": str(complaint_id)},
        )
        events = [{"type": r.event_type, "data": r.payload["data"]} for r in rows]
    assert events[0]["type"] == "jiesu.complaint.assigned.v1"
    return events[1:]


async def _assigned_case(client: httpx.AsyncClient) -> tuple[uuid.UUID, dict[str, Any]]:
    # ROAD-DAMAGE has one rule ("*" → dept-jt) in the seed.
    payload = _received("解放路路面塌陷一个大坑", grid_code="G01010101")
    payload = payload.model_copy(
        update={"summary": payload.summary.model_copy(update={"category_code": "ROAD-DAMAGE"})}
    )
    [assigned] = await _route(client, payload)
    return payload.complaint_id, assigned["data"]


def _returned(complaint_id: uuid.UUID, unit: str, round_no: int = 1) -> CaseReturnedV1:
    return CaseReturnedV1(
        complaint_id=complaint_id,
        case_id=uuid.uuid4(),
        unit_id=unit,
        round=round_no,
        role="lead",
        reason="不属于本单位",
        returned_at=datetime.now(UTC),
    )


async def test_an_approved_return_reroutes_to_the_district_government_and_rejects_a_second_decision(
    dispatch: httpx.AsyncClient,
) -> None:
    complaint_id, assigned = await _assigned_case(dispatch)
    assert assigned["lead_unit_id"] == "dept-jt"
    await _feed(dispatch, "record_return", _returned(complaint_id, "dept-jt"))
    await _feed(dispatch, "record_return", _returned(complaint_id, "dept-jt"))  # another case id
    listed = await dispatch.get(
        "/v1/returns", params={"complaint_id": str(complaint_id)}, headers=DISPATCHER
    )
    pending = listed.json()["items"]
    assert len(pending) == 2 and {r["status"] for r in pending} == {"pending"}

    first = pending[0]["return_id"]
    approved = await dispatch.post(
        f"/v1/returns/{first}/decision", json={"decision": "approve"}, headers=DISPATCHER
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["new_round"] == 2 and approved.json()["new_lead_unit_id"] == "gov-d01"
    again = await dispatch.post(
        f"/v1/returns/{first}/decision", json={"decision": "reject"}, headers=DISPATCHER
    )
    assert again.status_code == 409
    # The other return was for round 1, which is over now.
    stale = await dispatch.post(
        f"/v1/returns/{pending[1]['return_id']}/decision",
        json={"decision": "approve"},
        headers=DISPATCHER,
    )
    assert stale.status_code == 409 and stale.json()["type"].endswith("return-stale")

    events = await _outbox(dispatch, complaint_id)
    assert [e["type"] for e in events] == [
        "jiesu.return.approved.v1",
        "jiesu.complaint.assigned.v1",
    ]
    reassigned = events[1]["data"]
    assert reassigned["round"] == 2 and reassigned["previous_lead_unit_id"] == "dept-jt"


async def test_a_rejected_return_sends_nothing_but_the_rejection_and_bad_decisions_change_nothing(
    dispatch: httpx.AsyncClient,
) -> None:
    complaint_id, _ = await _assigned_case(dispatch)
    await _feed(dispatch, "record_return", _returned(complaint_id, "dept-jt"))
    [ret] = (
        await dispatch.get(
            "/v1/returns", params={"complaint_id": str(complaint_id)}, headers=DISPATCHER
        )
    ).json()["items"]
    path = f"/v1/returns/{ret['return_id']}/decision"
    for bad in (
        {"decision": "reject", "lead_unit_id": "dept-hj"},
        {"decision": "maybe"},
        {"decision": "approve", "surprise": 1},
    ):
        answer = await dispatch.post(path, json=bad, headers=DISPATCHER)
        assert answer.status_code == 422, bad
        assert answer.headers["content-type"].startswith("application/problem+json")
    unit = await dispatch.post(
        path, json={"decision": "reject"}, headers=bearer("unit_staff", "dept-jt")
    )
    assert unit.status_code == 403
    missing = await dispatch.post(
        f"/v1/returns/{uuid.uuid4()}/decision", json={"decision": "reject"}, headers=DISPATCHER
    )
    assert missing.status_code == 404
    assert await _outbox(dispatch, complaint_id) == []

    rejected = await dispatch.post(
        path, json={"decision": "reject", "note": "属于你单位"}, headers=DISPATCHER
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert [e["type"] for e in await _outbox(dispatch, complaint_id)] == [
        "jiesu.return.rejected.v1"
    ]


async def test_an_extension_is_granted_until_the_asked_date_or_denied(
    dispatch: httpx.AsyncClient,
) -> None:
    complaint_id, assigned = await _assigned_case(dispatch)
    until = datetime.fromisoformat(assigned["deadlines"]["resolve_by"]) + timedelta(days=5)
    requests = []
    for _ in range(2):
        request = CaseExtensionRequestedV1(
            complaint_id=complaint_id,
            case_id=uuid.uuid4(),
            unit_id="dept-jt",
            round=1,
            role="lead",
            until=until,
            reason="需协调施工单位",
            requested_at=datetime.now(UTC),
        )
        await _feed(dispatch, "record_extension_request", request)
        requests.append(request)
    items = (
        await dispatch.get(
            "/v1/extensions", params={"complaint_id": str(complaint_id)}, headers=DISPATCHER
        )
    ).json()["items"]
    assert len(items) == 2
    granted = await dispatch.post(
        f"/v1/extensions/{items[0]['extension_id']}/decision",
        json={"decision": "grant"},
        headers=DISPATCHER,
    )
    assert granted.status_code == 200 and granted.json()["status"] == "granted"
    denied = await dispatch.post(
        f"/v1/extensions/{items[1]['extension_id']}/decision",
        json={"decision": "deny", "note": "时限内可完成"},
        headers=DISPATCHER,
    )
    assert denied.status_code == 200
    events = await _outbox(dispatch, complaint_id)
    assert [e["type"] for e in events] == [
        "jiesu.extension.granted.v1",
        "jiesu.extension.denied.v1",
    ]
    assert datetime.fromisoformat(events[0]["data"]["resolve_by"]) == until


async def test_a_reopened_complaint_is_a_new_round_for_the_same_units(
    dispatch: httpx.AsyncClient,
) -> None:
    complaint_id, assigned = await _assigned_case(dispatch)
    reopened = ComplaintReopenedV1(
        complaint_id=complaint_id,
        review_id=uuid.uuid4(),
        round=1,
        next_round=2,
        reason="群众不满意",
        previous_lead_unit_id="dept-jt",
        reopened_at=datetime.now(UTC),
    )
    [event] = await _feed(dispatch, "reopen_complaint", reopened)
    data = event["data"]
    assert event["type"] == "jiesu.complaint.assigned.v1"
    assert (data["round"], data["lead_unit_id"], data["co_unit_ids"]) == (
        2,
        assigned["lead_unit_id"],
        assigned["co_unit_ids"],
    )
    assert data["deadlines"]["resolve_by"] > assigned["deadlines"]["resolve_by"]


async def test_a_direct_answer_found_unsolved_is_routed_as_its_first_assignment(
    dispatch: httpx.AsyncClient,
) -> None:
    received = _received("道路坑洼的维修政策是什么？", grid_code="G01010101")
    answer = ComplaintAnsweredV1(
        complaint_id=received.complaint_id,
        ticket_no=received.summary.ticket_no,
        answer="按知识条目答复",
        answered_by="operator:1",
        answered_at=datetime.now(UTC),
        category_code="ROAD-DAMAGE",
        summary=received.summary.model_copy(update={"kind": "inquiry"}),
    )
    state = dispatch.app.state.dispatch  # type: ignore[attr-defined]
    async with state.context.uow() as uow:
        await state.dispatcher.remember_answer(answer, make_event(answer), uow)
        assert uow.pending_events == []  # an answer is not routed
        await uow.commit()
    reopened = ComplaintReopenedV1(
        complaint_id=received.complaint_id,
        review_id=uuid.uuid4(),
        round=1,
        next_round=2,
        reason="咨询未解决",
        reopened_at=datetime.now(UTC),
    )
    [event] = await _feed(dispatch, "reopen_complaint", reopened)
    assert event["type"] == "jiesu.complaint.assigned.v1"
    assert (event["data"]["round"], event["data"]["lead_unit_id"]) == (2, "dept-jt")
