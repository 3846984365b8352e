"""Joint consultation (会商) and whistles in dispatch, against a real PostgreSQL."""

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from jiesu_common.contracts import TOPICS, make_event
from jiesu_common.contracts.events import WhistleRequestedV1
from jiesu_dispatch.consultations import Consultations
from jiesu_dispatch.main import create_app
from jiesu_dispatch.settings import DispatchSettings

from .conftest import bearer
from .test_dispatch_loopback import _assigned_case, _feed, _returned
from .test_dispatch_service import _received, _route

DISPATCHER = bearer("dispatcher")
CG = bearer("unit_staff", "dept-cg-d01")
HJ = bearer("unit_staff", "dept-hj")
JT = bearer("unit_staff", "dept-jt")


def _smoke_in_s0101() -> Any:
    # ENV-SMOKE in 柳荫街道 (S0101) has two leads in the seed: city management and environment.
    payload = _received("楼下饭店油烟直排，熏得没法开窗", grid_code="G01010101")
    return payload.model_copy(
        update={"summary": payload.summary.model_copy(update={"category_code": "ENV-SMOKE"})}
    )


async def _events(client: httpx.AsyncClient, complaint_id: uuid.UUID) -> list[dict[str, Any]]:
    state = client.app.state.dispatch  # type: ignore[attr-defined]
    async with state.context.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT event_type, payload FROM outbox WHERE key = :k ORDER BY id"),
            {"k": str(complaint_id)},
        )
        return [{"type": r.event_type, "data": r.payload["data"]} for r in rows]


async def _published(bootstrap: str, complaint_id: uuid.UUID) -> list[str]:
    """The types of the complaint's events on dispatch's topic, read from the start."""
    consumer = AIOKafkaConsumer(
        TOPICS["dispatch"], bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
        events = [json.loads(r.value) for records in batches.values() for r in records]
        return [e["type"] for e in events if e["subject"] == str(complaint_id)]
    finally:
        await consumer.stop()


async def _tie(client: httpx.AsyncClient) -> tuple[uuid.UUID, dict[str, Any]]:
    payload = _smoke_in_s0101()
    [opened] = await _route(client, payload)
    assert opened["type"] == "jiesu.consultation.opened.v1"
    return payload.complaint_id, opened["data"]


def _problem(answer: httpx.Response, status: int, type_end: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith(type_end), answer.json()


async def test_a_complaint_matching_two_units_equally_is_decided_jointly(
    dispatch: httpx.AsyncClient,
) -> None:
    complaint_id, opened = await _tie(dispatch)
    assert opened["participants"] == ["dept-cg-d01", "dept-hj"] and opened["trigger"] == "tie"
    assert opened["round"] == 1 and opened["summary"]["content"].startswith("楼下饭店")
    cid = opened["consultation_id"]
    deadline = datetime.fromisoformat(opened["deadline"]) - datetime.fromisoformat(
        opened["opened_at"]
    )
    assert timedelta(hours=4) <= deadline <= timedelta(days=4)  # 4 working hours

    listed = await dispatch.get("/v1/consultations", params={"status": "open"}, headers=HJ)
    assert [c["consultation_id"] for c in listed.json()["items"]] == [cid]
    for who, position, reason in (
        (CG, "not_ours", "餐饮油烟属生态环境部门执法"),
        (HJ, "lead", "油烟排放超标由我局监测执法"),
        (CG, "co_handle", "可配合清理占道经营"),
    ):
        answer = await dispatch.post(
            f"/v1/consultations/{cid}/positions",
            json={"position": position, "reason": reason},
            headers=who,
        )
        assert answer.status_code == 201, answer.text
    shown = (await dispatch.get(f"/v1/consultations/{cid}", headers=CG)).json()
    assert len(shown["positions"]) == 3
    assert shown["latest_positions"] == {"dept-cg-d01": "co_handle", "dept-hj": "lead"}

    decided = await dispatch.post(
        f"/v1/consultations/{cid}/decision",
        json={"lead_unit_id": "dept-hj", "co_unit_ids": ["dept-cg-d01"], "note": "按会商意见"},
        headers=DISPATCHER,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "decided" and decided.json()["lead_unit_id"] == "dept-hj"
    events = await _events(dispatch, complaint_id)
    assert [e["type"] for e in events] == [
        "jiesu.consultation.opened.v1",
        "jiesu.consultation.decided.v1",
        "jiesu.complaint.assigned.v1",
    ]
    assert events[1]["data"]["fallback"] is False and events[1]["data"]["round"] == 1
    assigned = events[2]["data"]
    assert assigned["mode"] == "consultation" and assigned["round"] == 1
    assert assigned["lead_unit_id"] == "dept-hj" and assigned["co_unit_ids"] == ["dept-cg-d01"]

    again = await dispatch.post(
        f"/v1/consultations/{cid}/decision",
        json={"lead_unit_id": "dept-cg-d01"},
        headers=DISPATCHER,
    )
    _problem(again, 409, "consultation-closed")
    late = await dispatch.post(
        f"/v1/consultations/{cid}/positions",
        json={"position": "lead", "reason": "晚了"},
        headers=HJ,
    )
    _problem(late, 409, "consultation-closed")
    assert len(await _events(dispatch, complaint_id)) == 3

    # The lead decided by consultation cannot return it: a return that comes anyway is ignored.
    assert await _feed(dispatch, "record_return", _returned(complaint_id, "dept-hj")) == []
    state = dispatch.app.state.dispatch  # type: ignore[attr-defined]
    async with state.context.engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM returns WHERE complaint_id = :c"), {"c": complaint_id}
        )
    assert count == 0


async def test_a_unit_not_invited_cannot_read_or_post_to_a_consultation(
    dispatch: httpx.AsyncClient,
) -> None:
    _, opened = await _tie(dispatch)
    cid = opened["consultation_id"]
    _problem(await dispatch.get(f"/v1/consultations/{cid}", headers=JT), 404, "not-found")
    posted = await dispatch.post(
        f"/v1/consultations/{cid}/positions",
        json={"position": "lead", "reason": "我们来"},
        headers=JT,
    )
    _problem(posted, 404, "not-found")
    assert (await dispatch.get("/v1/consultations", headers=JT)).json()["items"] == []
    decided = await dispatch.post(
        f"/v1/consultations/{cid}/decision", json={"lead_unit_id": "dept-jt"}, headers=HJ
    )
    assert decided.status_code == 403
    shown = (await dispatch.get(f"/v1/consultations/{cid}", headers=DISPATCHER)).json()
    assert shown["status"] == "open" and shown["positions"] == []


async def test_bad_consultation_input_is_a_problem_and_changes_nothing(
    dispatch: httpx.AsyncClient,
) -> None:
    complaint_id, opened = await _tie(dispatch)
    cid = opened["consultation_id"]
    bad_decisions = [
        {"lead_unit_id": "dept-nowhere"},
        {"lead_unit_id": "dept-hj", "co_unit_ids": ["dept-nowhere"]},
        {"lead_unit_id": "dept-hj", "surprise": 1},
        {},
    ]
    for body in bad_decisions:
        answer = await dispatch.post(
            f"/v1/consultations/{cid}/decision", json=body, headers=DISPATCHER
        )
        _problem(answer, 422, "validation-error")
    bad_position = await dispatch.post(
        f"/v1/consultations/{cid}/positions", json={"position": "maybe", "reason": "x"}, headers=HJ
    )
    _problem(bad_position, 422, "validation-error")
    unknown = await dispatch.post(
        f"/v1/consultations/{uuid.uuid4()}/decision",
        json={"lead_unit_id": "dept-hj"},
        headers=DISPATCHER,
    )
    _problem(unknown, 404, "not-found")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    bad_opens = [
        ({"complaint_id": str(complaint_id), "participants": ["dept-hj"], "reason": "x"}, 422),
        (
            {"complaint_id": str(complaint_id), "participants": ["dept-hj", "x"], "reason": "x"},
            422,
        ),
        (
            {
                "complaint_id": str(complaint_id),
                "participants": ["dept-hj", "dept-jt"],
                "reason": "x",
                "deadline": "2020-01-01T00:00:00+08:00",
            },
            422,
        ),
        (
            {
                "complaint_id": str(uuid.uuid4()),
                "participants": ["dept-hj", "dept-jt"],
                "reason": "x",
            },
            404,
        ),
        (
            {
                "complaint_id": str(complaint_id),
                "participants": ["dept-hj", "dept-jt"],
                "reason": "x",
                "deadline": future,
            },
            409,  # one consultation open at a time
        ),
    ]
    for body, status in bad_opens:
        answer = await dispatch.post("/v1/consultations", json=body, headers=DISPATCHER)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    by_unit = await dispatch.post(
        "/v1/consultations",
        json={
            "complaint_id": str(complaint_id),
            "participants": ["dept-hj", "dept-jt"],
            "reason": "x",
        },
        headers=HJ,
    )
    assert by_unit.status_code == 403
    shown = (await dispatch.get(f"/v1/consultations/{cid}", headers=DISPATCHER)).json()
    assert shown["status"] == "open" and shown["positions"] == []
    assert [e["type"] for e in await _events(dispatch, complaint_id)] == [
        "jiesu.consultation.opened.v1"
    ]
    # A complaint in consultation is decided there, not assigned by hand.
    manual = await dispatch.post(
        f"/v1/complaints/{complaint_id}/assignments",
        json={"lead_unit_id": "dept-hj"},
        headers=DISPATCHER,
    )
    _problem(manual, 409, "consultation-open")


async def test_an_undecided_consultation_falls_back_to_the_district_government_once(
    dispatch: httpx.AsyncClient,
) -> None:
    complaint_id, opened = await _tie(dispatch)
    state = dispatch.app.state.dispatch  # type: ignore[attr-defined]
    consultations = Consultations(state.dispatcher)
    deadline = datetime.fromisoformat(opened["deadline"])
    async with state.uow() as uow:
        assert await consultations.fall_back_due(uow, now=deadline - timedelta(seconds=1)) == 0
    for _ in range(2):  # a second pass (or a second replica) finds nothing left to do
        async with state.uow() as uow:
            await consultations.fall_back_due(uow, now=deadline + timedelta(minutes=5))
    events = await _events(dispatch, complaint_id)
    assert [e["type"] for e in events] == [
        "jiesu.consultation.opened.v1",
        "jiesu.consultation.decided.v1",
        "jiesu.complaint.assigned.v1",
    ]
    decided, assigned = events[1]["data"], events[2]["data"]
    assert decided["fallback"] is True and decided["decided_by"] == "system"
    assert decided["lead_unit_id"] == "gov-d01"
    assert assigned["lead_unit_id"] == "gov-d01" and assigned["mode"] == "consultation"
    shown = await dispatch.get(f"/v1/consultations/{opened['consultation_id']}", headers=DISPATCHER)
    assert shown.json()["status"] == "fallen_back"
    late = await dispatch.post(
        f"/v1/consultations/{opened['consultation_id']}/decision",
        json={"lead_unit_id": "dept-hj"},
        headers=DISPATCHER,
    )
    _problem(late, 409, "consultation-closed")


async def test_a_consultation_due_while_dispatch_was_down_falls_back_on_restart(
    dispatch: httpx.AsyncClient, private_kafka_bootstrap: str
) -> None:
    payload = _smoke_in_s0101()
    await _route(dispatch, payload)  # opened while running; due in a second
    cid = (await _events(dispatch, payload.complaint_id))[0]["data"]["consultation_id"]
    state = dispatch.app.state.dispatch  # type: ignore[attr-defined]
    async with state.context.engine.begin() as conn:
        await conn.execute(text("UPDATE consultations SET deadline = now() + interval '1 second'"))
    await asyncio.sleep(1.5)  # the deadline passes with no dispatch worker running
    settings = DispatchSettings(
        database={"url": state.settings.database.url, "pool_size": 5},
        auth={"jwt_secret": "dispatch-tests-secret-0123456789abcdef"},
        kafka={"bootstrap_servers": private_kafka_bootstrap},
        consultation_fallback_interval_s=0.2,
    )
    replicas = [create_app(settings).state.dispatch.context for _ in range(2)]
    for context in replicas:
        await context.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            shown = await dispatch.get(f"/v1/consultations/{cid}", headers=DISPATCHER)
            if shown.json()["status"] == "fallen_back":
                break
            assert time.monotonic() < deadline, "the fallback never fired"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # both replicas keep looking
    finally:
        for context in replicas:
            await context.stop()
    types = await _published(private_kafka_bootstrap, payload.complaint_id)
    assert types == [
        "jiesu.consultation.opened.v1",
        "jiesu.consultation.decided.v1",
        "jiesu.complaint.assigned.v1",
    ]


async def test_a_return_rejected_and_made_again_goes_to_a_consultation(
    dispatch: httpx.AsyncClient,
) -> None:
    complaint_id, _ = await _assigned_case(dispatch)
    first = _returned(complaint_id, "dept-jt")
    await _feed(dispatch, "record_return", first)
    [pending] = (
        await dispatch.get(
            "/v1/returns", params={"complaint_id": str(complaint_id)}, headers=DISPATCHER
        )
    ).json()["items"]
    rejected = await dispatch.post(
        f"/v1/returns/{pending['return_id']}/decision",
        json={"decision": "reject", "note": "属交通委管养道路"},
        headers=DISPATCHER,
    )
    assert rejected.status_code == 200
    again = first.model_copy(update={"reason": "确非我委管养", "returned_at": datetime.now(UTC)})
    [opened] = await _feed(dispatch, "record_return", again)
    assert opened["type"] == "jiesu.consultation.opened.v1"
    data = opened["data"]
    assert data["trigger"] == "disputed_return" and data["round"] == 2
    assert data["participants"] == ["dept-jt", "gov-d01"]


async def test_a_complaint_returned_a_second_time_goes_to_a_consultation(
    dispatch: httpx.AsyncClient,
) -> None:
    complaint_id, _ = await _assigned_case(dispatch)
    await _feed(dispatch, "record_return", _returned(complaint_id, "dept-jt"))
    [pending] = (
        await dispatch.get(
            "/v1/returns", params={"complaint_id": str(complaint_id)}, headers=DISPATCHER
        )
    ).json()["items"]
    approved = await dispatch.post(
        f"/v1/returns/{pending['return_id']}/decision",
        json={"decision": "approve"},
        headers=DISPATCHER,
    )
    assert approved.json()["new_lead_unit_id"] == "gov-d01"
    [opened] = await _feed(dispatch, "record_return", _returned(complaint_id, "gov-d01", 2))
    data = opened["data"]
    assert opened["type"] == "jiesu.consultation.opened.v1"
    assert data["trigger"] == "second_return" and data["round"] == 3
    assert data["participants"] == ["dept-jt", "gov-d01"]
    listed = await dispatch.get(
        "/v1/returns", params={"complaint_id": str(complaint_id)}, headers=DISPATCHER
    )
    assert listed.json()["items"] == []  # nothing waits for a plain return decision
    held = await dispatch.get(
        "/v1/returns",
        params={"complaint_id": str(complaint_id), "status": "consultation"},
        headers=DISPATCHER,
    )
    assert [r["unit_id"] for r in held.json()["items"]] == ["gov-d01"]


async def test_a_whistle_request_is_recorded_and_blown_once(dispatch: httpx.AsyncClient) -> None:
    complaint_id, _ = await _assigned_case(dispatch)
    request = WhistleRequestedV1(
        complaint_id=complaint_id,
        case_id=uuid.uuid4(),
        unit_id="street-s0101",
        round=1,
        role="co",
        by="staff-1",
        whistle_id=uuid.uuid4(),
        summoned_unit_ids=("dept-jt", "dept-cg-d01"),
        ask="请到现场会商路面修复",
        report_by=datetime.now(UTC) + timedelta(hours=4),
        requested_at=datetime.now(UTC),
    )
    state = dispatch.app.state.dispatch  # type: ignore[attr-defined]
    consultations = Consultations(state.dispatcher)
    event = make_event(request)
    blown = []
    for _ in range(2):
        async with state.uow() as uow:
            await consultations.record_whistle(request, event, uow)
            blown += [e.model_dump(mode="json") for e in uow.pending_events]
            await uow.commit()
    [whistle] = blown
    assert whistle["type"] == "jiesu.whistle.blown.v1"
    listed = await dispatch.get(
        "/v1/whistles", params={"complaint_id": str(complaint_id)}, headers=DISPATCHER
    )
    assert listed.status_code == 200, listed.text
    [shown] = listed.json()["items"]  # recorded once, listed once
    assert shown["whistle_id"] == str(request.whistle_id)
    assert shown["summoned_unit_ids"] == ["dept-jt", "dept-cg-d01"]
    assert shown["ask"] == "请到现场会商路面修复"
    refused = await dispatch.get("/v1/whistles", headers=JT)
    assert refused.status_code == 403
    assert whistle["data"]["summoned_unit_ids"] == ["dept-jt", "dept-cg-d01"]
    assert whistle["data"]["street_unit_id"] == "street-s0101"
