"""Consultations a unit is invited to, whistles and report-ins, on a real database."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from jiesu_common.auth import mint_token
from jiesu_common.contracts import make_event
from jiesu_common.contracts.events import (
    ConsultationDecidedV1,
    WhistleBlownV1,
)
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.settings import AuthSettings
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_department import collaboration, handlers
from jiesu_department.main import MIGRATIONS, create_app
from jiesu_department.settings import DepartmentSettings
from jiesu_department.units import CachedUnits
from tests.metrics.scenario import assigned, consultation_opened

SECRET = "department-tests-secret-0123456789abcdef"
UNITS = {
    "street-s0101": "street_office",
    "dept-jt": "department",
    "dept-cg-d01": "department",
    "dept-hj": "department",
    "gov-d01": "district_government",
}


def bearer(unit: str) -> dict[str, str]:
    auth = AuthSettings(jwt_secret=SecretStr(SECRET))
    return {"Authorization": f"Bearer {mint_token(auth, role='unit_staff', unit_id=unit)}"}


@pytest.fixture
async def department(new_database: DatabaseFactory) -> AsyncIterator[httpx.AsyncClient]:
    url = await new_database("department")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    settings = DepartmentSettings(
        database={"url": url, "pool_size": 5}, auth={"jwt_secret": SECRET}
    )
    app = create_app(settings)
    state = app.state.department

    async def units() -> dict[str, str]:
        return UNITS

    state.units = CachedUnits(units, ttl_s=60)
    await state.context.start(background=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://department"
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await state.context.engine.dispose()


async def feed(client: httpx.AsyncClient, handler: Any, payload: Any) -> None:
    state = client.app.state.department  # type: ignore[attr-defined]
    async with state.uow() as uow:
        await handler(payload, make_event(payload), uow)
        await uow.commit()


async def outbox(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    state = client.app.state.department  # type: ignore[attr-defined]
    async with state.context.engine.connect() as conn:
        rows = await conn.execute(text("SELECT event_type, payload FROM outbox ORDER BY id"))
        return [{"type": r.event_type, "data": r.payload["data"]} for r in rows]


def _problem(answer: httpx.Response, status: int, type_end: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith(type_end), answer.json()


async def _case_of(client: httpx.AsyncClient, unit: str, complaint_id: uuid.UUID) -> dict[str, Any]:
    listed = await client.get(
        "/v1/cases", params={"complaint_id": str(complaint_id)}, headers=bearer(unit)
    )
    [case] = listed.json()["items"]
    return dict(case)


async def test_participants_see_their_open_consultations_until_decided(
    department: httpx.AsyncClient,
) -> None:
    cid = uuid.uuid4()
    now = datetime.now(UTC)
    opened = consultation_opened(cid, now)
    for _ in range(2):  # redelivered: still one per participant
        await feed(department, collaboration.note_consultation_opened, opened)
    for unit in ("dept-cg-d01", "dept-hj"):
        [item] = (await department.get("/v1/consultations", headers=bearer(unit))).json()["items"]
        assert item["consultation_id"] == str(opened.consultation_id)
        assert item["status"] == "open" and item["ticket_no"] == "20261102000001"
    assert (await department.get("/v1/consultations", headers=bearer("dept-jt"))).json() == {
        "items": [],
        "next": None,
    }
    decided = ConsultationDecidedV1(
        complaint_id=cid,
        consultation_id=opened.consultation_id,
        lead_unit_id="dept-hj",
        co_unit_ids=("dept-cg-d01",),
        decided_by="dispatcher:1",
        decided_at=now,
        round=1,
    )
    await feed(department, collaboration.note_consultation_decided, decided)
    assert (await department.get("/v1/consultations", headers=bearer("dept-hj"))).json()[
        "items"
    ] == []
    [done] = (
        await department.get(
            "/v1/consultations", params={"status": "decided"}, headers=bearer("dept-cg-d01")
        )
    ).json()["items"]
    assert done["lead_unit_id"] == "dept-hj" and done["co_unit_ids"] == ["dept-cg-d01"]


async def test_a_lead_unit_decided_by_consultation_cannot_return_the_case(
    department: httpx.AsyncClient,
) -> None:
    cid = uuid.uuid4()
    event = assigned(cid, 1, 1, "dept-hj", ("dept-cg-d01",), 0)
    event = event.model_copy(
        update={
            "mode": "consultation",
            "assigned_at": datetime.now(UTC),
            "deadlines": event.deadlines.model_copy(
                update={"return_by": datetime.now(UTC) + timedelta(hours=2)}
            ),
        }
    )
    await feed(department, handlers.open_cases, event)
    case = await _case_of(department, "dept-hj", cid)
    returned = await department.post(
        f"/v1/cases/{case['case_id']}/return",
        json={"reason": "不归我们"},
        headers=bearer("dept-hj"),
    )
    _problem(returned, 409, "decided-by-consultation")
    assert (await _case_of(department, "dept-hj", cid))["status"] == "assigned"
    assert await outbox(department) == []


async def _street_case(department: httpx.AsyncClient) -> tuple[uuid.UUID, dict[str, Any]]:
    cid = uuid.uuid4()
    await feed(department, handlers.open_cases, assigned(cid, 1, 1, "street-s0101", (), 0))
    return cid, await _case_of(department, "street-s0101", cid)


async def test_a_whistle_summons_departments_who_each_report_in_once(
    department: httpx.AsyncClient,
) -> None:
    cid, case = await _street_case(department)
    report_by = datetime.now(UTC) + timedelta(hours=2)
    answer = await department.post(
        f"/v1/cases/{case['case_id']}/whistle",
        json={
            "unit_ids": ["dept-jt", "dept-cg-d01"],
            "ask": "道路塌陷涉及管线，请到现场联合处置",
            "report_by": report_by.isoformat(),
        },
        headers=bearer("street-s0101"),
    )
    assert answer.status_code == 202, answer.text
    whistle_id = uuid.UUID(answer.json()["whistle_id"])
    [requested] = await outbox(department)
    assert requested["type"] == "jiesu.case.whistle_requested.v1"
    assert requested["data"]["summoned_unit_ids"] == ["dept-jt", "dept-cg-d01"]

    blown = WhistleBlownV1(
        complaint_id=cid,
        whistle_id=whistle_id,
        case_id=uuid.UUID(case["case_id"]),
        street_unit_id="street-s0101",
        summoned_unit_ids=("dept-jt", "dept-cg-d01"),
        ask="道路塌陷涉及管线，请到现场联合处置",
        report_by=report_by,
        round=1,
        blown_at=datetime.now(UTC),
    )
    for _ in range(2):  # redelivered: no second summons
        await feed(department, collaboration.open_summons_cases, blown)
    summons = await _case_of(department, "dept-jt", cid)
    assert summons["whistle_id"] == str(whistle_id) and summons["role"] == "co"
    assert summons["summoned_by"] == "street-s0101" and summons["reported_at"] is None
    assert (await _case_of(department, "dept-cg-d01", cid))["status"] == "assigned"

    reported = await department.post(
        f"/v1/cases/{summons['case_id']}/report-in",
        json={"note": "已派员到场"},
        headers=bearer("dept-jt"),
    )
    assert reported.status_code == 200, reported.text
    assert reported.json()["status"] == "accepted" and reported.json()["reported_at"]
    again = await department.post(
        f"/v1/cases/{summons['case_id']}/report-in", headers=bearer("dept-jt")
    )
    _problem(again, 409, "already-reported")
    not_summons = await department.post(
        f"/v1/cases/{case['case_id']}/report-in", headers=bearer("street-s0101")
    )
    _problem(not_summons, 409, "not-a-summons")
    elsewhere = await department.post(
        f"/v1/cases/{summons['case_id']}/report-in", headers=bearer("dept-cg-d01")
    )
    _problem(elsewhere, 404, "not-found")
    types = [e["type"] for e in await outbox(department)]
    assert types == ["jiesu.case.whistle_requested.v1", "jiesu.whistle.reported.v1"]


async def test_bad_whistles_are_problems_and_change_nothing(
    department: httpx.AsyncClient,
) -> None:
    _, case = await _street_case(department)
    url = f"/v1/cases/{case['case_id']}/whistle"
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    street = bearer("street-s0101")
    for body, status, type_end in [
        ({"unit_ids": ["dept-jt"], "ask": "来", "report_by": past}, 422, "validation-error"),
        ({"unit_ids": ["street-s0101"], "ask": "来", "report_by": soon}, 422, "validation-error"),
        ({"unit_ids": ["dept-nowhere"], "ask": "来", "report_by": soon}, 422, "validation-error"),
        ({"unit_ids": [], "ask": "来", "report_by": soon}, 422, "validation-error"),
        ({"unit_ids": ["dept-jt"], "ask": "来", "report_by": "2026-11-23T10:00"}, 422, "error"),
        ({"unit_ids": ["dept-jt"], "ask": "来", "report_by": soon, "x": 1}, 422, "error"),
    ]:
        _problem(await department.post(url, json=body, headers=street), status, type_end)
    ok_body = {"unit_ids": ["dept-jt"], "ask": "来", "report_by": soon}
    _problem(await department.post(url, json=ok_body, headers=bearer("dept-jt")), 404, "not-found")
    cid = uuid.uuid4()
    await feed(department, handlers.open_cases, assigned(cid, 2, 1, "dept-jt", (), 0))
    own = await _case_of(department, "dept-jt", cid)
    not_street = await department.post(
        f"/v1/cases/{own['case_id']}/whistle", json=ok_body, headers=bearer("dept-jt")
    )
    _problem(not_street, 403, "whistle-street-office-only")
    assert await outbox(department) == []
    shown = await department.get(f"/v1/cases/{case['case_id']}", headers=street)
    assert [h["action"] for h in shown.json()["history"]] == ["assigned"]
