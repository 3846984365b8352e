"""Filing complaints through intake's API against a real PostgreSQL."""

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import text

from .conftest import bearer

OPERATOR = bearer("operator")
BODY: dict[str, Any] = {
    "channel": "phone",
    "kind": "complaint",
    "content": "小区楼下烧烤店每天半夜噪音很大，严重扰民",
    "caller": {"name": "张三", "phone": "13812345678"},
    "location": {"lat": 39.87, "lon": 116.33},
}


async def _scalar(client: httpx.AsyncClient, sql: str) -> Any:
    async with client.app.state.intake.context.engine.connect() as conn:  # type: ignore[attr-defined]
        return (await conn.execute(text(sql))).scalar_one()


async def test_filed_complaint_gets_a_ticket_and_a_received_event(
    intake: httpx.AsyncClient,
) -> None:
    first = await intake.post("/v1/complaints", json=BODY, headers=OPERATOR)
    other = {**BODY, "caller": {"phone": "13900000000"}, "content": "路灯坏了很久没人修"}
    second = await intake.post("/v1/complaints", json=other, headers=OPERATOR)
    assert first.status_code == second.status_code == 201
    a, b = first.json(), second.json()
    assert a["status"] == "received" and a["duplicate_of"] is None
    assert len(a["ticket_no"]) == 14 and int(b["ticket_no"]) == int(a["ticket_no"]) + 1
    shown = (await intake.get(f"/v1/complaints/{a['complaint_id']}", headers=OPERATOR)).json()
    assert shown["caller"] == {
        "name": "张*",
        "phone": "138****5678",
        "email": None,
        "anonymous": False,
        "confidential": False,
    }
    assert [t["event_type"] for t in shown["timeline"]] == ["jiesu.complaint.received.v1"]
    assert await _scalar(intake, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 2


async def test_raw_phone_and_name_never_reach_the_outbox_or_the_table(
    intake: httpx.AsyncClient,
) -> None:
    await intake.post("/v1/complaints", json=BODY, headers=OPERATOR)
    payloads = await _scalar(intake, "SELECT string_agg(payload::text, ' ') FROM outbox")
    assert "13812345678" not in payloads and "张三" not in payloads
    assert "138****5678" in payloads
    stored = await _scalar(
        intake, "SELECT caller_phone_enc::text || coalesce(caller_phone_hash,'') FROM complaints"
    )
    assert "13812345678" not in stored


async def test_same_idempotency_key_posted_five_times_concurrently_files_one_complaint(
    intake: httpx.AsyncClient,
) -> None:
    headers = {**OPERATOR, "Idempotency-Key": "call-2026-11-23-0001"}
    answers = await asyncio.gather(
        *(intake.post("/v1/complaints", json=BODY, headers=headers) for _ in range(5))
    )
    assert sorted(a.status_code for a in answers) == [201] * 5
    assert len({json.dumps(a.json(), sort_keys=True) for a in answers}) == 1
    assert [a.headers.get("idempotent-replayed") for a in answers].count(None) == 1
    assert await _scalar(intake, "SELECT count(*) FROM complaints") == 1
    assert await _scalar(intake, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1


async def test_reusing_an_idempotency_key_for_another_body_is_refused(
    intake: httpx.AsyncClient,
) -> None:
    headers = {**OPERATOR, "Idempotency-Key": "k-1"}
    assert (await intake.post("/v1/complaints", json=BODY, headers=headers)).status_code == 201
    clash = await intake.post(
        "/v1/complaints", json={**BODY, "content": "完全不同的内容"}, headers=headers
    )
    assert clash.status_code == 422
    assert clash.json()["type"].endswith("/idempotency-key-reused")
    assert await _scalar(intake, "SELECT count(*) FROM complaints") == 1


async def test_bad_input_gets_problem_json_and_changes_nothing(intake: httpx.AsyncClient) -> None:
    cases = [
        {**BODY, "unknown": 1},
        {**BODY, "channel": "fax"},
        {**BODY, "content": ""},
        {**BODY, "location": {"lat": 39.9}},
        {**BODY, "caller": {"phone": "call me maybe"}},
    ]
    for body in cases:
        answer = await intake.post("/v1/complaints", json=body, headers=OPERATOR)
        assert answer.status_code == 422, body
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/validation-error")
    not_json = await intake.post(
        "/v1/complaints", content=b"{", headers={**OPERATOR, "content-type": "application/json"}
    )
    assert not_json.status_code == 422
    assert await _scalar(intake, "SELECT count(*) FROM complaints") == 0
    assert await _scalar(intake, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_only_operators_and_apps_may_file(intake: httpx.AsyncClient) -> None:
    assert (await intake.post("/v1/complaints", json=BODY)).status_code == 401
    denied = await intake.post("/v1/complaints", json=BODY, headers=bearer("unit_staff", "u1"))
    assert denied.status_code == 403
    assert denied.json()["type"].endswith("/forbidden")


async def test_repeat_call_from_same_caller_is_merged_into_the_master(
    intake: httpx.AsyncClient,
) -> None:
    master = (await intake.post("/v1/complaints", json=BODY, headers=OPERATOR)).json()
    again = {**BODY, "content": "楼下烧烤店半夜噪音很大，每天都扰民"}
    dup = (await intake.post("/v1/complaints", json=again, headers=OPERATOR)).json()
    assert dup["status"] == "merged" and dup["duplicate_of"] == master["complaint_id"]
    types = await _scalar(intake, "SELECT string_agg(event_type, ',' ORDER BY id) FROM outbox")
    assert types == "jiesu.complaint.received.v1,jiesu.complaint.merged.v1"


async def test_third_party_app_files_by_api_key_and_sees_only_its_own(
    intake: httpx.AsyncClient,
) -> None:
    created = await intake.post(
        "/v1/api-keys", json={"app_id": "civic-app", "name": "市民通"}, headers=bearer("admin")
    )
    assert created.status_code == 201
    key = {"X-API-Key": created.json()["api_key"]}
    mine = await intake.post("/v1/complaints", json={**BODY, "channel": "app"}, headers=key)
    assert mine.status_code == 201
    other = await intake.post(
        "/v1/complaints",
        json={**BODY, "caller": {"phone": "13700000000"}, "content": "井盖丢失很危险"},
        headers=OPERATOR,
    )
    listed = (await intake.get("/v1/complaints", headers=key)).json()
    assert [c["complaint_id"] for c in listed["items"]] == [mine.json()["complaint_id"]]
    hidden = await intake.get(f"/v1/complaints/{other.json()['complaint_id']}", headers=key)
    assert hidden.status_code == 404
    bad = await intake.post("/v1/complaints", json=BODY, headers={"X-API-Key": "jsk_wrong"})
    assert bad.status_code == 401


async def test_list_filters_and_paginates(intake: httpx.AsyncClient) -> None:
    for n in range(7):
        body = {
            **BODY,
            "kind": "inquiry" if n % 2 else "complaint",
            "caller": {"phone": f"1390000000{n}"},
            "content": f"第{n}件：{'公交' * (n + 1)}线路调整咨询",
        }
        assert (await intake.post("/v1/complaints", json=body, headers=OPERATOR)).status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "kind": "complaint"}
        if cursor:
            params["cursor"] = cursor
        page = (await intake.get("/v1/complaints", params=params, headers=OPERATOR)).json()
        seen += [c["complaint_id"] for c in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 4
    bad = await intake.get("/v1/complaints", params={"cursor": "nope"}, headers=OPERATOR)
    assert bad.status_code == 400


async def test_inquiry_answered_on_the_spot_is_not_dispatched(intake: httpx.AsyncClient) -> None:
    body = {
        "channel": "phone",
        "kind": "inquiry",
        "content": "请问社保卡丢了在哪里补办？",
        "answer": "可携带身份证到任一社保服务网点或在线补办。",
    }
    answer = await intake.post("/v1/complaints", json=body, headers=OPERATOR)
    assert answer.status_code == 201 and answer.json()["status"] == "answered"
    types = await _scalar(intake, "SELECT string_agg(event_type, ',') FROM outbox")
    assert types == "jiesu.complaint.answered.v1"
    refused = await intake.post(
        "/v1/complaints", json={**BODY, "answer": "已答复"}, headers=OPERATOR
    )
    assert refused.status_code == 422


async def test_withdrawn_complaint_is_terminal_and_announced(intake: httpx.AsyncClient) -> None:
    filed = (await intake.post("/v1/complaints", json=BODY, headers=OPERATOR)).json()
    path = f"/v1/complaints/{filed['complaint_id']}/withdraw"
    done = await intake.post(path, json={"reason": "问题已自行解决"}, headers=OPERATOR)
    assert done.status_code == 200 and done.json()["status"] == "withdrawn"
    again = await intake.post(path, json={"reason": "再次撤回"}, headers=OPERATOR)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/complaint-not-withdrawable")
    types = await _scalar(intake, "SELECT string_agg(event_type, ',' ORDER BY id) FROM outbox")
    assert types == "jiesu.complaint.received.v1,jiesu.complaint.withdrawn.v1"


async def test_correlation_id_of_the_request_travels_on_its_events(
    intake: httpx.AsyncClient,
) -> None:
    answer = await intake.post(
        "/v1/complaints", json=BODY, headers={**OPERATOR, "X-Correlation-ID": "call-centre-77"}
    )
    assert answer.headers["x-correlation-id"] == "call-centre-77"
    assert await _scalar(intake, "SELECT payload->>'correlationid' FROM outbox") == "call-centre-77"


async def test_operators_find_a_callers_complaints_by_phone_number(
    intake: httpx.AsyncClient,
) -> None:
    await intake.post("/v1/complaints", json=BODY, headers=OPERATOR)
    other = {**BODY, "caller": {"phone": "13900000000"}, "content": "路灯坏了很久没人修"}
    await intake.post("/v1/complaints", json=other, headers=OPERATOR)
    found = await intake.get(
        "/v1/complaints", params={"caller_phone": "+86 138-1234-5678"}, headers=OPERATOR
    )
    assert [c["caller"]["phone"] for c in found.json()["items"]] == ["138****5678"]
