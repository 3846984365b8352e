"""API keys as a managed resource: issue, list, rotate, revoke, and a rate limit per key."""

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import text

from .conftest import api_key, bearer

ADMIN = bearer("admin")
BODY: dict[str, Any] = {
    "channel": "app",
    "kind": "complaint",
    "content": "小区门口路灯连续三晚不亮",
    "location": {"address": "杏林路18号"},
}


async def test_keys_are_listed_without_their_secret_and_only_hashes_are_stored(
    intake: httpx.AsyncClient,
) -> None:
    created = await intake.post(
        "/v1/api-keys",
        json={"app_id": "civic-app", "name": "市民通", "rate_limit_per_minute": 30},
        headers=ADMIN,
    )
    assert created.status_code == 201
    issued = created.json()
    assert issued["api_key"].startswith(issued["prefix"]) and issued["rate_limit_per_minute"] == 30
    listed = await intake.get("/v1/api-keys", headers=ADMIN)
    assert listed.status_code == 200
    [shown] = listed.json()["items"]
    assert shown["id"] == issued["id"] and shown["active"] is True
    assert issued["api_key"] not in listed.text and "key_hash" not in shown
    async with intake.app.state.intake.context.engine.connect() as conn:  # type: ignore[attr-defined]
        stored = (await conn.execute(text("SELECT row_to_json(k)::text FROM api_keys k"))).scalar()
    assert issued["api_key"] not in stored and json.loads(stored)["key_hash"]


async def test_only_admins_manage_keys(intake: httpx.AsyncClient) -> None:
    key = await api_key(intake)
    for headers in (bearer("operator"), bearer("supervisor"), {"X-API-Key": key}):
        assert (await intake.get("/v1/api-keys", headers=headers)).status_code == 403
        denied = await intake.post(
            "/v1/api-keys", json={"app_id": "x-app", "name": "x"}, headers=headers
        )
        assert denied.status_code == 403
    assert (await intake.get("/v1/api-keys")).status_code == 401


async def test_rotation_keeps_the_old_key_for_its_grace_then_revocation_stops_it(
    intake: httpx.AsyncClient,
) -> None:
    old = await api_key(intake)
    key_id = (await intake.get("/v1/api-keys", headers=ADMIN)).json()["items"][0]["id"]
    rotated = await intake.post(
        f"/v1/api-keys/{key_id}/rotate", json={"grace_minutes": 60}, headers=ADMIN
    )
    assert rotated.status_code == 201
    new = rotated.json()["api_key"]
    assert new != old and rotated.json()["app_id"] == "civic-app"
    for key in (old, new):
        assert (await intake.get("/v1/complaints", headers={"X-API-Key": key})).status_code == 200
    listed = {k["id"]: k for k in (await intake.get("/v1/api-keys", headers=ADMIN)).json()["items"]}
    assert listed[key_id]["replaced_by"] == rotated.json()["id"]
    assert listed[key_id]["revoked_at"] is not None and listed[key_id]["active"] is True

    revoked = await intake.post(f"/v1/api-keys/{key_id}/revoke", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert (await intake.get("/v1/complaints", headers={"X-API-Key": old})).status_code == 401
    refused = await intake.post(f"/v1/api-keys/{key_id}/rotate", headers=ADMIN)
    assert refused.status_code == 409
    open311 = await intake.get("/open311/v2/requests.json", params={"api_key": old})
    assert open311.status_code == 403 and open311.json()[0]["code"] == 403


async def test_rotation_without_grace_stops_the_old_key_at_once(intake: httpx.AsyncClient) -> None:
    old = await api_key(intake)
    key_id = (await intake.get("/v1/api-keys", headers=ADMIN)).json()["items"][0]["id"]
    new = (await intake.post(f"/v1/api-keys/{key_id}/rotate", headers=ADMIN)).json()["api_key"]
    assert (await intake.get("/v1/complaints", headers={"X-API-Key": old})).status_code == 401
    assert (await intake.get("/v1/complaints", headers={"X-API-Key": new})).status_code == 200
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (await intake.post(f"/v1/api-keys/{unknown}/revoke", headers=ADMIN)).status_code == 404


async def test_a_key_over_its_rate_gets_429_with_retry_after_in_either_api(
    intake: httpx.AsyncClient,
) -> None:
    key = await api_key(intake, rate=3)
    other = await api_key(intake, "other-app", rate=3)
    answers = await asyncio.gather(
        *(intake.get("/v1/complaints", headers={"X-API-Key": key}) for _ in range(3))
    )
    assert [a.status_code for a in answers] == [200, 200, 200]
    limited = await intake.get("/v1/complaints", headers={"X-API-Key": key})
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.json()["type"].endswith("/rate-limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 20
    open311 = await intake.get("/open311/v2/requests.xml", params={"api_key": key})
    assert open311.status_code == 429 and b"<code>429</code>" in open311.content
    assert int(open311.headers["retry-after"]) >= 1
    # Each key has its own budget.
    assert (await intake.get("/v1/complaints", headers={"X-API-Key": other})).status_code == 200
    filed = await intake.post("/v1/complaints", json=BODY, headers={"X-API-Key": key})
    assert filed.status_code == 429
