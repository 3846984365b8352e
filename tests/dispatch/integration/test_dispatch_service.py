"""Routing, the queue, manual assignment and versioned rules against a real PostgreSQL."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from jiesu_common.contracts import make_event
from jiesu_common.contracts.events import (
    ComplaintReceivedV1,
    ComplaintSummaryV1,
    LocationV1,
    MaskedCallerV1,
)

from .conftest import bearer

DISPATCHER = bearer("dispatcher")


def _received(content: str, **location: Any) -> ComplaintReceivedV1:
    return ComplaintReceivedV1(
        complaint_id=uuid.uuid4(),
        summary=ComplaintSummaryV1(
            ticket_no="20261123000001",
            channel="phone",
            kind="complaint",
            urgency="normal",
            content=content,
            location=LocationV1(**location),
            caller=MaskedCallerV1(),
            received_at=datetime.now(UTC),
        ),
    )


async def _route(client: httpx.AsyncClient, payload: ComplaintReceivedV1) -> list[dict[str, Any]]:
    state = client.app.state.dispatch  # type: ignore[attr-defined]
    async with state.context.uow() as uow:
        await state.dispatcher.route_complaint(payload, make_event(payload), uow)
        events = [e.model_dump(mode="json") for e in uow.pending_events]
        await uow.commit()
    return events


async def test_noise_complaint_in_a_located_grid_is_assigned_with_deadlines(
    dispatch: httpx.AsyncClient,
) -> None:
    events = await _route(dispatch, _received("楼下烧烤店半夜噪音很大", lat=39.87, lon=116.33))
    assert [e["type"] for e in events] == ["jiesu.complaint.assigned.v1"]
    data = events[0]["data"]
    assert data["lead_unit_id"] == "street-s0101" and data["mode"] == "auto"
    assert data["category_code"] == "ENV-NOISE" and data["round"] == 1
    assert data["jurisdiction"]["district_code"] == "D01"
    assigned = datetime.fromisoformat(data["assigned_at"])
    deadlines = {k: datetime.fromisoformat(v) for k, v in data["deadlines"].items()}
    assert deadlines["accept_by"] - assigned == timedelta(hours=2)
    assert deadlines["contact_by"] - assigned == timedelta(hours=24)
    assert deadlines["return_by"] - assigned == timedelta(hours=2)
    assert deadlines["resolve_by"] - assigned >= timedelta(days=7)


async def test_unclassifiable_complaint_is_queued_then_assigned_by_hand(
    dispatch: httpx.AsyncClient,
) -> None:
    payload = _received("啊啊啊啊啊啊", address="清河路")
    events = await _route(dispatch, payload)
    assert [e["type"] for e in events] == ["jiesu.complaint.queued.v1"]
    assert events[0]["data"]["reason"] == "unclassified"
    queue = (await dispatch.get("/v1/dispatch-queue", headers=DISPATCHER)).json()
    assert [i["complaint_id"] for i in queue["items"]] == [str(payload.complaint_id)]

    answer = await dispatch.post(
        f"/v1/complaints/{payload.complaint_id}/assignments",
        json={"lead_unit_id": "dept-cg-d01", "category_code": "CITY-GARBAGE", "note": "人工"},
        headers=DISPATCHER,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["mode"] == "manual" and answer.json()["round"] == 1
    assert (await dispatch.get("/v1/dispatch-queue", headers=DISPATCHER)).json()["items"] == []


async def test_the_queue_pages_through_complaints_queued_in_the_same_instant(
    dispatch: httpx.AsyncClient,
) -> None:
    payloads = [_received(f"啊啊啊啊{n}") for n in range(3)]
    for payload in payloads:
        await _route(dispatch, payload)
    state = dispatch.app.state.dispatch  # type: ignore[attr-defined]
    async with state.context.engine.begin() as conn:  # one batch, one instant
        await conn.execute(text("UPDATE dispatch_queue SET queued_at = now()"))
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 1}
    while True:
        answer = (
            await dispatch.get("/v1/dispatch-queue", params=params, headers=DISPATCHER)
        ).json()
        seen += [i["complaint_id"] for i in answer["items"]]
        if answer["next"] is None:
            break
        params["cursor"] = answer["next"]
    assert sorted(seen) == sorted(str(p.complaint_id) for p in payloads)
    bad = await dispatch.get(
        "/v1/dispatch-queue", params={"cursor": "2026-12-01"}, headers=DISPATCHER
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_manual_assignment_refuses_unknown_units_and_complaints(
    dispatch: httpx.AsyncClient,
) -> None:
    unknown = await dispatch.post(
        f"/v1/complaints/{uuid.uuid4()}/assignments",
        json={"lead_unit_id": "dept-cg-d01"},
        headers=DISPATCHER,
    )
    assert unknown.status_code == 404
    payload = _received("啊啊啊啊啊啊")
    await _route(dispatch, payload)
    bad_unit = await dispatch.post(
        f"/v1/complaints/{payload.complaint_id}/assignments",
        json={"lead_unit_id": "no-such-unit"},
        headers=DISPATCHER,
    )
    assert bad_unit.status_code == 422
    assert bad_unit.headers["content-type"] == "application/problem+json"
    forbidden = await dispatch.post(
        f"/v1/complaints/{payload.complaint_id}/assignments",
        json={"lead_unit_id": "dept-cg-d01"},
        headers=bearer("operator"),
    )
    assert forbidden.status_code == 403


async def test_routing_rule_changes_are_versioned_and_take_effect(
    dispatch: httpx.AsyncClient,
) -> None:
    current = (await dispatch.get("/v1/routing-rules", headers=DISPATCHER)).json()
    assert current["version"] == 1
    rules = [r for r in current["rules"] if r["category"] != "ENV-NOISE"]
    rules.append({"category": "ENV-NOISE", "scope": "*", "lead": "dept-hj", "co_units": []})
    put = await dispatch.put(
        "/v1/routing-rules",
        json={"rules": rules, "note": "噪声统一由生态环境局主办"},
        headers={**DISPATCHER, "If-Match": "1"},
    )
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 2
    stale = await dispatch.put(
        "/v1/routing-rules", json={"rules": rules}, headers={**DISPATCHER, "If-Match": "1"}
    )
    assert stale.status_code == 412
    events = await _route(dispatch, _received("楼下烧烤店半夜噪音很大", lat=39.87, lon=116.33))
    assert events[0]["data"]["lead_unit_id"] == "dept-hj"
    old = (await dispatch.get("/v1/routing-rules?version=1", headers=DISPATCHER)).json()
    assert old["rules"] == current["rules"]
    history = (await dispatch.get("/v1/routing-rules/versions", headers=DISPATCHER)).json()
    assert [v["version"] for v in history["items"]] == [2, 1]


async def test_invalid_rules_are_refused_and_change_nothing(dispatch: httpx.AsyncClient) -> None:
    bad = [{"category": "NOPE", "scope": "district:D99", "lead": "ghost", "co_units": []}]
    answer = await dispatch.put("/v1/routing-rules", json={"rules": bad}, headers=DISPATCHER)
    assert answer.status_code == 422
    assert len(answer.json()["errors"]) >= 3
    assert (await dispatch.get("/v1/routing-rules", headers=DISPATCHER)).json()["version"] == 1
    state = dispatch.app.state.dispatch  # type: ignore[attr-defined]
    async with state.context.engine.connect() as conn:
        count = await conn.execute(text("SELECT count(*) FROM routing_rule_versions"))
        assert count.scalar_one() == 1


async def test_directory_lists_units_and_categories(dispatch: httpx.AsyncClient) -> None:
    units = (await dispatch.get("/v1/units", headers=DISPATCHER)).json()["items"]
    kinds = {u["kind"] for u in units}
    assert len(units) >= 15 and kinds == {
        "district_government",
        "street_office",
        "department",
        "utility",
    }
    categories = (await dispatch.get("/v1/categories", headers=DISPATCHER)).json()["items"]
    assert len(categories) >= 25
    assert (await dispatch.get("/v1/units")).status_code == 401


async def test_place_named_only_in_the_text_still_locates_the_complaint(
    dispatch: httpx.AsyncClient,
) -> None:
    events = await _route(dispatch, _received("杏林路的路灯坏了好几天，晚上很黑"))
    assert [e["type"] for e in events] == ["jiesu.complaint.assigned.v1"]
    assert events[0]["data"]["category_code"] == "CITY-STREETLIGHT"
    assert events[0]["data"]["jurisdiction"]["community_code"] == "C010101"


async def test_withdrawn_complaint_leaves_the_queue_and_cannot_be_assigned(
    dispatch: httpx.AsyncClient,
) -> None:
    from jiesu_common.contracts.events import ComplaintWithdrawnV1

    payload = _received("啊啊啊啊啊啊")
    await _route(dispatch, payload)
    withdrawn = ComplaintWithdrawnV1(
        complaint_id=payload.complaint_id, reason="已解决", withdrawn_at=datetime.now(UTC)
    )
    state = dispatch.app.state.dispatch  # type: ignore[attr-defined]
    async with state.context.uow() as uow:
        await state.dispatcher.withdraw_complaint(withdrawn, make_event(withdrawn), uow)
        await uow.commit()
    assert (await dispatch.get("/v1/dispatch-queue", headers=DISPATCHER)).json()["items"] == []
    late = await dispatch.post(
        f"/v1/complaints/{payload.complaint_id}/assignments",
        json={"lead_unit_id": "gov-d01", "category_code": "OTHER"},
        headers=DISPATCHER,
    )
    assert late.status_code == 409


async def test_clocks_configured_per_class_and_category_shape_the_deadlines(
    dispatch: httpx.AsyncClient,
) -> None:
    from jiesu_dispatch.settings import ClockOverride

    dispatcher = dispatch.app.state.dispatch.dispatcher  # type: ignore[attr-defined]
    dispatcher.settings = dispatcher.settings.model_copy(
        update={
            "clocks": {
                "general": ClockOverride(accept_minutes=60),
                "ENV-NOISE": ClockOverride(resolve_hours=48),
            }
        }
    )
    events = await _route(dispatch, _received("楼下烧烤店半夜噪音很大", lat=39.87, lon=116.33))
    data = events[0]["data"]
    assigned = datetime.fromisoformat(data["assigned_at"])
    deadlines = {k: datetime.fromisoformat(v) for k, v in data["deadlines"].items()}
    assert deadlines["accept_by"] - assigned == timedelta(minutes=60)
    assert deadlines["contact_by"] - assigned == timedelta(hours=24)
    assert deadlines["resolve_by"] - assigned == timedelta(hours=48)


async def test_suggestions_give_the_classifiers_categories_with_confidence_and_their_rule(
    dispatch: httpx.AsyncClient,
) -> None:
    noisy = _received("楼下烧烤店半夜噪音很大", lat=39.87, lon=116.33)
    await _route(dispatch, noisy)
    answer = await dispatch.get(
        f"/v1/complaints/{noisy.complaint_id}/suggestions", headers=DISPATCHER
    )
    assert answer.status_code == 200, answer.text
    found = answer.json()
    first = found["suggestions"][0]
    assert first["category_code"] == "ENV-NOISE" and 0 < first["confidence"] <= 1
    assert found["classifier_confidence"] >= found["min_confidence"]
    assert first["outcome"] == "route" and first["lead_unit_id"] == "street-s0101"
    assert first["rule"]["category"] == "ENV-NOISE" and first["rule"]["scope"]
    shares = [s["confidence"] for s in found["suggestions"]]
    assert shares == sorted(shares, reverse=True) and len(shares) <= 3

    unclear = _received("啊啊啊啊啊啊", address="清河路")
    await _route(dispatch, unclear)
    none = await dispatch.get(
        f"/v1/complaints/{unclear.complaint_id}/suggestions", headers=DISPATCHER
    )
    assert none.json()["suggestions"] == [] and none.json()["classifier_confidence"] == 0
    missing = await dispatch.get(f"/v1/complaints/{uuid.uuid4()}/suggestions", headers=DISPATCHER)
    assert missing.status_code == 404
    unit = await dispatch.get(
        f"/v1/complaints/{noisy.complaint_id}/suggestions",
        headers=bearer("unit_staff", "street-s0101"),
    )
    assert unit.status_code == 403
