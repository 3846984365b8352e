"""metrics' HTTP API over a projected story: SLA views, the overdue list and scorecards."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.contracts import parse_payload
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.settings import AuthSettings
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_metrics.consumers import handler_table
from jiesu_metrics.main import MIGRATIONS, create_app
from jiesu_metrics.settings import MetricsSettings
from tests.metrics.scenario import story

SECRET = "metrics-api-tests-secret-0123456789abcdef"
STORY = story()
C1, C2, C3, C4 = (STORY["intake"][n].subject for n in range(4))


def bearer(role: str, unit: str | None = None) -> dict[str, str]:
    token = mint_token(AuthSettings(jwt_secret=SecretStr(SECRET)), role=role, unit_id=unit)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def metrics(new_database: DatabaseFactory) -> AsyncIterator[httpx.AsyncClient]:
    url = await new_database("metrics")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    app = create_app(MetricsSettings(database={"url": url}, auth={"jwt_secret": SECRET}))
    state = app.state.metrics
    await state.context.start(background=False)
    handlers = handler_table(state.projector)
    for events in STORY.values():  # topic after topic: the order does not matter
        for event in events:
            if event.type in handlers:
                async with state.uow() as uow:
                    await handlers[event.type](parse_payload(event), event, uow)
                    await uow.commit()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://metrics"
    ) as client:
        yield client
    await state.context.engine.dispose()


async def test_a_complaints_clocks_show_met_late_superseded_and_running(
    metrics: httpx.AsyncClient,
) -> None:
    sla = (await metrics.get(f"/v1/complaints/{C1}/sla", headers=bearer("supervisor"))).json()
    states = {(c["round"], c["unit_id"], c["clock"]): c["state"] for c in sla["clocks"]}
    assert sla["current_round"] == 3
    assert states[(1, "dept-jt", "accept")] == "met"
    assert states[(1, "dept-jt", "resolve")] == "superseded"
    assert states[(1, "street-s0101", "accept")] == "late"  # the co-unit signed 15 h later
    assert states[(3, "gov-d01", "resolve")] == "met"
    extended = next(c for c in sla["clocks"] if (c["round"], c["clock"]) == (3, "resolve"))
    assert extended["extended_deadline"] is not None
    other_unit = await metrics.get(
        f"/v1/complaints/{C1}/sla", headers=bearer("unit_staff", "dept-yl")
    )
    assert other_unit.status_code == 404


async def test_the_overdue_list_holds_only_live_clocks_past_their_deadline(
    metrics: httpx.AsyncClient,
) -> None:
    overdue = (await metrics.get("/v1/sla/overdue", headers=bearer("supervisor"))).json()["items"]
    assert {(o["complaint_id"], o["clock"]) for o in overdue} == {
        (C4, "accept"),
        (C4, "contact"),
        (C4, "resolve"),
    }
    assert overdue[0]["clock"] == "accept"  # most overdue first
    page = await metrics.get("/v1/sla/overdue", params={"limit": 2}, headers=bearer("supervisor"))
    nxt = page.json()["next"]
    rest = await metrics.get(
        "/v1/sla/overdue", params={"limit": 2, "cursor": nxt}, headers=bearer("supervisor")
    )
    assert [o["clock"] for o in page.json()["items"] + rest.json()["items"]] == [
        o["clock"] for o in overdue
    ]
    mine = await metrics.get("/v1/sla/overdue", headers=bearer("unit_staff", "dept-jt"))
    assert mine.json()["items"] == []  # unit staff see their own unit's only


async def test_scorecards_by_unit_street_and_district(metrics: httpx.AsyncClient) -> None:
    unit = (
        await metrics.get(
            "/v1/scorecards", params={"period": "2026-11"}, headers=bearer("supervisor")
        )
    ).json()
    rows = {r["key"]: r for r in unit["items"]}
    gov = rows["gov-d01"]
    assert (gov["reviewed"], gov["contacted"], gov["resolved"], gov["satisfied"]) == (2, 2, 1, 1)
    assert gov["composite"] == pytest.approx(0.1 * 1.0 + 0.45 * 0.5 + 0.45 * 0.5)
    assert rows["dept-cg-d01"]["on_time_accept_rate"] == 0.0
    assert rows["dept-cg-d01"]["response_rate"] == 0.0  # the resident said nobody called
    assert rows["dept-jt"]["return_rate"] == 1.0 and rows["dept-jt"]["misroute_rate"] == 1.0
    # C1, first sent to dept-jt, closed by gov-d01: dept-jt's misroute; C2 closed by its first.
    closed = {k: (r["first_assigned_closed"], r["misrouted"]) for k, r in rows.items()}
    assert (closed["dept-jt"], closed["dept-cg-d01"], closed["gov-d01"]) == ((1, 1), (1, 0), (0, 0))
    assert rows["dept-jt"]["first_assignment_misroute_rate"] == 1.0
    assert unit["platform"] == {
        "received": 4,
        "answered": 1,
        "direct_answer_rate": 0.25,
        "inquiries": 0,
        "proactive_from_hotspots": 0,
        "proactive_from_patrols": 0,
        "articles": [],
    }
    district = (
        await metrics.get(
            "/v1/scorecards",
            params={"period": "2026-11", "level": "district"},
            headers=bearer("supervisor"),
        )
    ).json()
    assert [r["key"] for r in district["items"]] == ["D01"]
    assert district["items"][0]["reviewed"] == 3
    empty = (
        await metrics.get(
            "/v1/scorecards", params={"period": "2026-10"}, headers=bearer("supervisor")
        )
    ).json()
    assert empty["items"] == []


async def test_bad_scorecard_queries_are_problems(metrics: httpx.AsyncClient) -> None:
    for params in (
        {"period": "2026-13"},
        {"period": "Nov"},
        {"period": "2026-11", "level": "city"},
    ):
        answer = await metrics.get("/v1/scorecards", params=params, headers=bearer("supervisor"))
        assert answer.status_code == 422, params
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert (await metrics.get("/v1/scorecards", params={"period": "2026-11"})).status_code == 401
