"""The authorisation matrix: every route of every service × every caller → expected status.

Generated from each service's OpenAPI document: each route declares its callers
(``x-jiesu-access``). Callers: every role, a second unit's staff, three services' own
identities, and nobody. Expected: no token → 401; a caller the route does not name → 403;
another unit's staff on that unit's case or complaint → 404; a caller it names → admitted
(never 401, never the guard's 403, never 5xx). The whole matrix is written as an artefact.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.devstack import SERVICES, DevStack
from jiesu_common.settings import AuthSettings
from tests.e2e.workflow import Platform

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "security"
OWNER, OTHER = "dept-jt", "dept-hj"
PEOPLE = ("operator", "dispatcher", "reviewer", "supervisor", "admin", "grid_worker")
SERVICE_CALLERS = ("department", "review", "metrics")
API_SERVICES = [s for s in SERVICES if s.name != "console"]
# Paths whose resource belongs to one unit: another unit's staff must not learn it exists.
UNIT_SCOPED = ("{case_id}", "/v1/complaints/{complaint_id}/sla", "{subscription_id}")
# Valid bodies for the unit-scoped actions, so that the ownership check is what answers.
BODIES: dict[str, dict[str, Any]] = {
    "contact": {"method": "phone"},
    "progress": {"note": "进展"},
    "resolve": {"reply": "已处理"},
    "return": {"reason": "不是我们的"},
    "extension-request": {"until": "2099-01-01T00:00:00+08:00", "reason": "需要时间"},
    "pause-request": {"reason": "等待诉求人补充材料"},
    "whistle": {"unit_ids": [OTHER], "ask": "请报到", "report_by": "2099-01-01T00:00:00+08:00"},
    # Loopback http (development) to a port nobody listens on, for an event seldom sent.
    "subscriptions": {"url": "http://127.0.0.1:9/hook", "event_types": ["case.reported_in"]},
}


def callers(stack: DevStack, tokens: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Every caller of the matrix with its headers."""
    auth = AuthSettings(jwt_secret=SecretStr(stack.secrets["jwt_secret"]))
    found = {role: {"Authorization": f"Bearer {tokens[role]}"} for role in PEOPLE}
    found["unit_staff"] = {"Authorization": f"Bearer {tokens['units'][OWNER]}"}
    found["other_unit_staff"] = {"Authorization": f"Bearer {tokens['units'][OTHER]}"}
    for name in SERVICE_CALLERS:
        token = mint_token(auth, role="service", service=name)
        found[f"service:{name}"] = {"Authorization": f"Bearer {token}"}
    found["nobody"] = {}
    return found


def expected(policy: dict[str, Any], caller: str, path: str) -> str:
    """``401``, ``403``, ``404`` or ``admitted``."""
    if caller == "nobody":
        return "401"
    if caller.startswith("service:"):
        return "admitted" if caller.removeprefix("service:") in policy["services"] else "403"
    role = "unit_staff" if caller == "other_unit_staff" else caller
    if role not in policy["roles"]:
        return "403"
    if caller == "other_unit_staff" and any(marker in path for marker in UNIT_SCOPED):
        return "404"
    return "admitted"


def concrete(path: str, ids: dict[str, str]) -> str:
    """The path with its parameters filled: real ids where the matrix has them."""
    for name in ("complaint_id", "case_id", "subscription_id"):
        path = path.replace("{" + name + "}", ids[name])
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + str(uuid.uuid4()) + path[end + 1 :]
    return path


async def outcome(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str]
) -> tuple[int, str]:
    """The status and, for a refusal, the problem's type."""
    body = None
    if method in ("POST", "PUT", "PATCH"):
        body = BODIES.get(url.rsplit("/", 1)[-1], {})
    # Streamed, so that the SSE routes answer their status without being read to the end.
    async with client.stream(method, url, json=body, headers=headers) as answer:
        if answer.status_code not in (401, 403):
            return answer.status_code, ""
        await answer.aread()
        return answer.status_code, str(answer.json()["type"]).rsplit("/", 1)[-1]


async def test_every_route_refuses_or_admits_every_caller_as_declared(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    filed = await p.file_road_damage(
        "权限矩阵：解放路人行道地砖松动", phone="13344445555", grid="G01010101"
    )
    case = await p.case_of(filed["complaint_id"], OWNER, round_no=1)
    subscribed = await p.call(
        "POST", "department", "/v1/subscriptions", f"unit:{OWNER}", body=BODIES["subscriptions"]
    )
    assert subscribed.status_code == 201, subscribed.text
    ids = {
        "complaint_id": filed["complaint_id"],
        "case_id": case["case_id"],
        "subscription_id": subscribed.json()["subscription_id"],
    }
    who = callers(stack, tokens)
    rows: list[dict[str, Any]] = []
    wrong: list[str] = []
    undeclared: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for spec in API_SERVICES:
            base = stack.url_of(spec)
            document = (await client.get(f"{base}/openapi.json")).json()
            for path, operations in document["paths"].items():
                for method, operation in operations.items():
                    policy = operation.get("x-jiesu-access")
                    if policy is None:
                        # Open311 checks its api_key as GeoReport v2 says; all else declares.
                        if not path.startswith("/open311/"):
                            undeclared.append(f"{spec.name} {method.upper()} {path}")
                        continue
                    url = base + concrete(path, ids)
                    for caller, headers in who.items():
                        want = expected(policy, caller, path)
                        got, kind = await outcome(client, method.upper(), url, headers)
                        # Admitted: past the guard; a domain rule may still refuse (its own
                        # problem type, e.g. only street offices blow whistles).
                        ok = (
                            got < 500 and got != 401 and kind != "forbidden"
                            if want == "admitted"
                            else str(got) == want
                        )
                        rows.append(
                            {
                                "service": spec.name,
                                "route": f"{method.upper()} {path}",
                                "caller": caller,
                                "expected": want,
                                "status": got,
                                "problem": kind,
                            }
                        )
                        if not ok:
                            wrong.append(f"{spec.name} {method.upper()} {path} {caller}: {got}")
    routes = {(r["service"], r["route"]) for r in rows}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "authz-matrix.json").write_text(
        json.dumps(
            {"routes": len(routes), "callers": list(who), "cells": len(rows), "matrix": rows},
            ensure_ascii=False,
            indent=1,
        )
    )
    print(f"authorisation matrix: {len(routes)} routes × {len(who)} callers = {len(rows)} cells")
    assert undeclared == []
    assert len(routes) >= 50 and len(rows) == len(routes) * len(who)
    assert wrong == [], "\n".join(wrong)
