"""Who may call comes first; bad parameters are refused; failures are throttled; headers."""

import json
import uuid

import httpx

from jiesu_common.access import AuthThrottle

from .conftest import api_key, bearer

OPERATOR = bearer("operator")
INVALID_BODY = {"channel": "carrier-pigeon", "unexpected": True}


async def test_a_caller_without_the_role_gets_403_before_the_body_is_validated(
    intake: httpx.AsyncClient,
) -> None:
    unit_staff = {**bearer("unit_staff", "u1"), "Content-Type": "application/json"}
    json_type = {"Content-Type": "application/json"}
    for body in (json.dumps(INVALID_BODY), "{not json"):
        unit = await intake.post("/v1/complaints", headers=unit_staff, content=body)
        assert unit.status_code == 403, unit.text
        assert unit.headers["content-type"] == "application/problem+json"
        assert "channel" not in unit.text and "errors" not in unit.json()
        nobody = await intake.post("/v1/complaints", headers=json_type, content=body)
        assert nobody.status_code == 401
        on_admin = await intake.post(
            "/v1/api-keys", headers={**OPERATOR, **json_type}, content=body
        )
        assert on_admin.status_code == 403
    # The role that may call it does get the validation error.
    admitted = await intake.post("/v1/complaints", json=INVALID_BODY, headers=OPERATOR)
    assert admitted.status_code == 422 and admitted.json()["errors"]


async def test_an_app_key_on_an_admin_route_is_forbidden_not_validated(
    intake: httpx.AsyncClient,
) -> None:
    key = await api_key(intake)
    answer = await intake.post("/v1/api-keys", json={"bogus": 1}, headers={"X-API-Key": key})
    assert answer.status_code == 403


async def test_garbage_cursor_and_unknown_or_bad_parameters_are_refused(
    intake: httpx.AsyncClient,
) -> None:
    for query in ("cursor=garbage", "cursor=Zm9vfGJhcg==", "cursor=%00"):
        answer = await intake.get(f"/v1/complaints?{query}", headers=OPERATOR)
        assert answer.status_code in (400, 422), (query, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    unknown = await intake.get("/v1/complaints?sort_by=ticket_no", headers=OPERATOR)
    assert unknown.status_code == 400
    assert unknown.json()["type"].endswith("/unknown-parameter")
    assert unknown.json()["parameters"] == ["sort_by"]
    bad = await intake.get("/v1/complaints?limit=lots", headers=OPERATOR)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert (await intake.get("/v1/complaints?limit=5", headers=OPERATOR)).status_code == 200


async def test_repeated_bad_tokens_from_one_address_are_throttled_but_valid_staff_are_not(
    intake: httpx.AsyncClient,
) -> None:
    intake.app.state.auth_throttle = AuthThrottle(limit=5, window_s=60, block_s=30)  # type: ignore[attr-defined]
    # A colleague behind the same address signed in before the attack.
    assert (await intake.get("/v1/complaints", headers=OPERATOR)).status_code == 200
    forged = {"Authorization": "Bearer not.a.token"}
    statuses = [(await intake.get("/v1/complaints", headers=forged)).status_code for _ in range(5)]
    assert statuses == [401] * 5
    throttled = await intake.get("/v1/complaints", headers=forged)
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 30
    assert throttled.headers["content-type"] == "application/problem+json"
    bad_key = await intake.get("/v1/complaints", headers={"X-API-Key": "jsk_guess"})
    assert bad_key.status_code == 429
    assert (await intake.get("/v1/complaints", headers=OPERATOR)).status_code == 200


async def test_every_answer_carries_security_headers(intake: httpx.AsyncClient) -> None:
    answers = [
        await intake.get("/v1/complaints", headers=OPERATOR),
        await intake.get(f"/v1/complaints/{uuid.uuid4()}", headers=OPERATOR),
        await intake.get("/v1/complaints"),
        await intake.get("/no/such/route"),
        await intake.get("/healthz"),
        await intake.get("/openapi.json"),
    ]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answers[0].headers["content-security-policy"].startswith("default-src 'none'")


async def test_docs_pages_load_their_assets_from_the_service_itself(
    intake: httpx.AsyncClient,
) -> None:
    for page in ("/docs", "/redoc"):
        html = await intake.get(page)
        assert html.status_code == 200
        csp = html.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "http://" not in html.text and "https://" not in html.text
        assert "<script>" not in html.text  # no inline script
    for asset in (
        "/docs-assets/vendor/swagger-ui-bundle.js",
        "/docs-assets/vendor/swagger-ui.css",
        "/docs-assets/vendor/redoc.standalone.js",
        "/docs-assets/own/swagger-init.js",
    ):
        answer = await intake.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 100, asset
