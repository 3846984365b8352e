"""The dashboard's read models over a projected history: every figure checked by hand."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.calendar import zone
from jiesu_common.db.engine import drop_database, ensure_database
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.settings import AuthSettings
from jiesu_common.testing.plugin import database_url
from jiesu_metrics.main import MIGRATIONS, create_app
from jiesu_metrics.settings import MetricsSettings
from tests.metrics.history import NS, PLACES, complaint_events, history, project

SECRET = "metrics-dashboard-tests-secret-0123456789"
NOW = datetime.now(UTC)
EVENTS = list(history(now=NOW, days=56, per_day=6))
BURST = [uuid.uuid5(NS, f"burst-{n}") for n in range(8)]
OPEN = uuid.uuid5(NS, "open-one")


def bearer(role: str, unit: str | None = None) -> dict[str, str]:
    token = mint_token(AuthSettings(jwt_secret=SecretStr(SECRET)), role=role, unit_id=unit)
    return {"Authorization": f"Bearer {token}"}


SV = bearer("supervisor")


def burst() -> list[Any]:
    """Eight noise complaints in 泉水社区 over the last two days; a caller and an address repeat."""
    events: list[Any] = []
    for n, cid in enumerate(BURST):
        events += complaint_events(
            cid,
            ticket_no=f"B{n:04d}",
            received=NOW - timedelta(hours=2 + 5 * n),
            place=PLACES[3],
            category="ENV-NOISE",
            lead="street-s0102",
            caller_ref="burst-caller" if n < 2 else f"burst-{n}",
            address="泉水路8号" if n < 3 else f"泉水路{10 + n}号",
            close=False,
        )
    # One still open, due in an hour: on the board for today, yellow (most of it has run).
    events += complaint_events(
        OPEN,
        ticket_no="OPEN0001",
        received=NOW - timedelta(days=6, hours=23),
        place=PLACES[0],
        category="ROAD-DAMAGE",
        lead="dept-jt",
        caller_ref="open-caller",
        address="杏林路1号",
        close=False,
    )
    return events


@pytest.fixture(scope="module")
async def metrics(pg_server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    # One database for the module: projecting the history once keeps these tests quick.
    url = database_url(pg_server_url, f"t_dashboard_{uuid.uuid4().hex[:10]}")
    await ensure_database(url)
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    settings = MetricsSettings(
        database={"url": url}, auth={"jwt_secret": SECRET}, tick_interval_s=3600
    )
    app = create_app(settings)
    state = app.state.metrics
    await state.context.start(background=False)
    await project(state, iter(EVENTS + burst()))
    app.state.test_state = state
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://metrics"
    ) as client:
        yield client
    await state.context.engine.dispose()
    await drop_database(url)


def received(payloads: list[Any]) -> list[Any]:
    return [p for p in payloads if type(p).__name__ == "ComplaintReceivedV1"]


def local_month(moment: datetime) -> str:
    local = moment.astimezone(zone("Asia/Shanghai"))
    return f"{local.year:04d}-{local.month:02d}"


def month_start(label: str) -> datetime:
    y, m = map(int, label.split("-"))
    return datetime(y, m, 1, tzinfo=zone("Asia/Shanghai"))


async def test_a_burst_in_one_community_tops_the_hot_spots(metrics: httpx.AsyncClient) -> None:
    answer = await metrics.get("/v1/hotspots", params={"window": "week"}, headers=SV)
    assert answer.status_code == 200, answer.text
    spots = answer.json()["items"]
    top = spots[0]
    assert (top["category_code"], top["place_code"]) == ("ENV-NOISE", "C010202")
    week = timedelta(days=7)
    at = datetime.fromisoformat(top["window_end"])
    cluster = [
        p
        for p in received(ALL)
        if p.summary.category_code == "ENV-NOISE"
        and community_of(p.complaint_id) == "C010202"
        and at - 9 * week <= p.summary.received_at < at
    ]
    latest = [p for p in cluster if p.summary.received_at >= at - week]
    assert top["complaints"] == len(latest) >= 8
    callers = [p.summary.caller.caller_ref for p in cluster]
    repeat = {c for c in callers if callers.count(c) > 1}
    assert top["repeat_callers"] == len({p.summary.caller.caller_ref for p in latest} & repeat) >= 1
    assert top["repeat_addresses"] >= 1
    assert len(top["history"]) == 8
    assert top["surprise"] > 3 and all(s["surprise"] <= top["surprise"] for s in spots)
    series = await metrics.get(
        "/v1/hotspots/series",
        params={"category": "ENV-NOISE", "level": "community", "place": "C010202"},
        headers=SV,
    )
    months = series.json()["items"]
    assert len(months) == 12
    expected_now = sum(
        1
        for p in received(EVENTS + burst())
        if p.summary.category_code == "ENV-NOISE"
        and local_month(p.summary.received_at) == months[-1]["month"]
        and community_of(p.complaint_id) == "C010202"
    )
    assert months[-1]["count"] == expected_now


ALL: list[Any] = []


def current_lead(complaint_id: str) -> str:
    """The lead of a complaint's latest round."""
    rounds = [
        (e.round, e.lead_unit_id)
        for e in ALL
        if type(e).__name__ == "ComplaintAssignedV1" and str(e.complaint_id) == complaint_id
    ]
    return max(rounds)[1]


def community_of(complaint_id: uuid.UUID) -> str | None:
    return next(
        (_community(e) for e in ALL if e.complaint_id == complaint_id and _community(e)), None
    )


def _community(event: Any) -> str | None:
    j = getattr(event, "jurisdiction", None)
    return j.community_code if j else None


@pytest.fixture(autouse=True, scope="module")
def _all_events() -> None:
    ALL[:] = EVENTS + burst()


async def test_kpis_count_this_month_and_the_same_span_last_month(
    metrics: httpx.AsyncClient,
) -> None:
    body = (await metrics.get("/v1/dashboard/kpis", headers=SV)).json()
    windows = {
        k: (datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]))
        for k, w in body["windows"].items()
    }
    for name, (lo, hi) in windows.items():
        filed = sum(1 for p in received(ALL) if lo <= p.summary.received_at < hi)
        assert body["values"][name]["filed"] == filed, name
    # Every clock of the open complaints (the burst and the open one) past its deadline.
    at = datetime.fromisoformat(body["computed_at"])
    overdue = sum(
        1
        for p in ALL
        if type(p).__name__ == "ComplaintAssignedV1" and p.complaint_id in {*BURST, OPEN}
        for deadline in (p.deadlines.accept_by, p.deadlines.contact_by, p.deadlines.resolve_by)
        if deadline < at
    )
    assert body["values"]["month"]["overdue_now"] == overdue >= 10
    assert body["notes"]["satisfaction_rate"]["denominator"]
    refused = await metrics.get("/v1/dashboard/kpis", headers=bearer("unit_staff", "dept-hj"))
    assert refused.status_code == 403


async def test_rankings_rank_only_units_with_enough_reviews(metrics: httpx.AsyncClient) -> None:
    period = local_month(NOW - timedelta(days=20))
    reviewed: dict[str, int] = {}
    satisfied: dict[str, int] = {}
    lo = month_start(period)
    hi = month_start(local_month(lo + timedelta(days=32)))
    for p in ALL:
        if type(p).__name__ == "ReviewCompletedV1" and lo <= p.completed_at < hi:
            reviewed[p.lead_unit_id] = reviewed.get(p.lead_unit_id, 0) + 1
            satisfied[p.lead_unit_id] = satisfied.get(p.lead_unit_id, 0) + (
                p.satisfaction != "dissatisfied"
            )
    threshold = sorted(reviewed.values())[len(reviewed) // 2]
    answer = await metrics.get(
        "/v1/dashboard/rankings",
        params={"period": period, "metric": "satisfaction_rate", "min_sample": threshold},
        headers=SV,
    )
    rows = {r["key"]: r for r in answer.json()["items"]}
    assert set(rows) >= set(reviewed)
    for unit, n in reviewed.items():
        assert rows[unit]["reviewed"] == n
        assert rows[unit]["satisfaction_rate"] == round(satisfied[unit] / n, 4)
        assert (rows[unit]["rank"] is not None) == (n >= threshold)
    ranked = sorted((r for r in rows.values() if r["ranked"]), key=lambda r: r["rank"])
    assert [r["value"] for r in ranked] == sorted((r["value"] for r in ranked), reverse=True)
    assert ranked[0]["rank"] == 1


async def test_drill_down_lists_exactly_a_units_assigned_complaints(
    metrics: httpx.AsyncClient,
) -> None:
    period = local_month(NOW - timedelta(days=20))
    lo = month_start(period)
    hi = month_start(local_month(lo + timedelta(days=32)))
    expected = {
        str(p.complaint_id)
        for p in ALL
        if type(p).__name__ == "ComplaintAssignedV1"
        and p.lead_unit_id == "dept-jt"
        and lo <= p.assigned_at < hi
    }
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"measure": "assigned", "unit": "dept-jt", "period": period}
        params |= {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = (await metrics.get("/v1/dashboard/complaints", params=params, headers=SV)).json()
        seen += [c["complaint_id"] for c in page["items"]]
        assert all(c["lead_unit_id"] == current_lead(c["complaint_id"]) for c in page["items"])
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and set(seen) == expected and expected


async def test_dispatch_quality_shows_where_approved_returns_went(
    metrics: httpx.AsyncClient,
) -> None:
    period = local_month(NOW - timedelta(days=20))
    lo = month_start(period)
    hi = month_start(local_month(lo + timedelta(days=32)))
    returned = {
        e.complaint_id: e.unit_id
        for e in ALL
        if type(e).__name__ == "CaseReturnedV1" and lo <= e.returned_at < hi
    }
    flows: dict[tuple[str, str], int] = {}
    for complaint_id, source in returned.items():
        target = current_lead(str(complaint_id))
        flows[(source, target)] = flows.get((source, target), 0) + 1
    body = (
        await metrics.get("/v1/dashboard/quality", params={"period": period}, headers=SV)
    ).json()
    assert {(f["source"], f["target"]): f["count"] for f in body["flows"]} == flows and flows
    rows = {r["key"]: r for r in body["items"]}
    for (source, _), count in flows.items():
        assert rows[source]["returned"] >= count
        assert rows[source]["misroute_rate"] == round(
            rows[source]["returns_approved"] / rows[source]["assigned"], 4
        )


async def test_trends_add_up_to_the_filings_of_their_days(metrics: httpx.AsyncClient) -> None:
    items = (await metrics.get("/v1/dashboard/trends", params={"days": 14}, headers=SV)).json()[
        "items"
    ]
    assert len(items) == 14
    first = datetime.fromisoformat(items[0]["day"]).replace(tzinfo=zone("Asia/Shanghai"))
    filed = sum(1 for p in received(ALL) if p.summary.received_at >= first)
    assert sum(i["filed"] for i in items) == filed
    open_now = 8 + 1  # the burst and the open one: everything else was closed
    assert items[-1]["backlog"] == open_now
    assert any(i["median_close_hours"] for i in items)


async def test_the_board_shows_a_clock_due_today_with_its_ladder(
    metrics: httpx.AsyncClient,
) -> None:
    body = (await metrics.get("/v1/sla/board", params={"horizon": "week"}, headers=SV)).json()
    mine = [r for r in body["items"] if r["complaint_id"] == str(OPEN)]
    resolve = next(r for r in mine if r["clock"] == "resolve")
    assert resolve["light"] == "yellow" and 0 < resolve["remaining_seconds"] < 2 * 3600
    assert [s["level"] for s in resolve["ladder"]] == ["reminder", "supervision", "notice"]
    assert not any(s["reached"] for s in resolve["ladder"])
    overdue = (await metrics.get("/v1/sla/board", headers=SV)).json()
    accept = [r for r in overdue["items"] if r["complaint_id"] == str(OPEN)]
    assert {r["clock"] for r in accept} == {"accept", "contact"}
    assert all(r["light"] == "red" for r in accept)
    assert overdue["counts"]["overdue"] >= 2


async def test_the_map_counts_each_community(metrics: httpx.AsyncClient) -> None:
    period = local_month(NOW)
    body = (
        await metrics.get(
            "/v1/dashboard/map", params={"level": "community", "period": period}, headers=SV
        )
    ).json()
    counts = {i["code"]: i["value"] for i in body["items"]}
    lo = month_start(period)
    community = {e.complaint_id: _community(e) for e in ALL if _community(e)}
    expected: dict[str, int] = {}
    for p in received(ALL):
        if p.summary.received_at >= lo:
            expected[community[p.complaint_id]] = expected.get(community[p.complaint_id], 0) + 1
    assert counts == expected


async def test_the_live_feed_sends_a_new_closure_once(metrics: httpx.AsyncClient) -> None:
    from jiesu_common.contracts.events import ComplaintClosedV1
    from jiesu_metrics.dashboard.live import LiveFeed

    state = metrics._transport.app.state.test_state  # type: ignore[attr-defined]

    async def fetch(sql: str, params: dict[str, Any]) -> list[Any]:
        async with state.uow() as uow:
            return await uow.metrics.fetch(sql, params)

    feed = LiveFeed(fetch)
    start = datetime.now(UTC)
    assert await feed.poll(start) == []
    closed = ComplaintClosedV1(complaint_id=BURST[0], round=1, closed_at=datetime.now(UTC))
    await project(state, iter([closed]))
    fresh = await feed.poll(start)
    assert [(f["kind"], f["complaint_id"]) for f in fresh] == [("closed", str(BURST[0]))]
    assert await feed.poll(start) == []


async def test_breaches_and_escalations_reach_the_live_feed_with_their_times(
    metrics: httpx.AsyncClient,
) -> None:
    from jiesu_metrics.dashboard.live import LiveFeed

    state = metrics._transport.app.state.test_state  # type: ignore[attr-defined]

    async def fetch(sql: str, params: dict[str, Any]) -> list[Any]:
        async with state.uow() as uow:
            return await uow.metrics.fetch(sql, params)

    feed = LiveFeed(fetch)
    start = datetime.now(UTC)
    board = (await metrics.get("/v1/sla/board", params={"horizon": "week"}, headers=SV)).json()
    resolve = next(
        r for r in board["items"] if r["complaint_id"] == str(OPEN) and r["clock"] == "resolve"
    )
    supervision = datetime.fromisoformat(resolve["ladder"][1]["due_at"])
    seen = []
    for moment in (datetime.fromisoformat(resolve["deadline"]), supervision):
        async with state.uow() as uow:
            await state.projector.tick(uow, now=moment + timedelta(seconds=1))
        seen += [
            (f["kind"], f["clock"], f["level"])
            for f in await feed.poll(start)
            if f["complaint_id"] == str(OPEN) and f["clock"] == "resolve"
        ]
    assert seen == [("breached", "resolve", "reminder"), ("escalated", "resolve", "supervision")]
    week = (await metrics.get("/v1/sla/board", params={"horizon": "week"}, headers=SV)).json()
    row = next(
        r for r in week["items"] if r["complaint_id"] == str(OPEN) and r["clock"] == "resolve"
    )
    assert row["level"] == "supervision"
    assert [s["reached"] for s in row["ladder"]] == [True, True, False]
    assert row["ladder"] == [
        {**step, "reached": step["level"] != "notice"} for step in resolve["ladder"]
    ]
