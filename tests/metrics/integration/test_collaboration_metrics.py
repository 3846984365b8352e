"""Report-in clocks, consultations and whistles in the SLA ladder and the scorecards."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from jiesu_common.contracts import make_event
from jiesu_common.contracts.events import (
    ComplaintReceivedV1,
    ConsultationDecidedV1,
    ConsultationOpenedV1,
    WhistleBlownV1,
    WhistleReportedV1,
)
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_metrics.consumers import handler_table
from jiesu_metrics.main import MIGRATIONS, create_app
from jiesu_metrics.settings import MetricsSettings
from tests.metrics.integration.test_metrics_api import SECRET, bearer
from tests.metrics.scenario import assigned, at, summary


@pytest.fixture
async def metrics(new_database: DatabaseFactory) -> AsyncIterator[httpx.AsyncClient]:
    url = await new_database("metrics")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    app = create_app(MetricsSettings(database={"url": url}, auth={"jwt_secret": SECRET}))
    await app.state.metrics.context.start(background=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://metrics"
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await app.state.metrics.context.engine.dispose()


async def project(client: httpx.AsyncClient, *payloads: Any) -> None:
    state = client.app.state.metrics  # type: ignore[attr-defined]
    handlers = handler_table(state.projector)
    for payload in payloads:
        event = make_event(payload)
        async with state.uow() as uow:
            await handlers[event.type](payload, event, uow)
            await uow.commit()


async def tick(client: httpx.AsyncClient, minutes: float) -> list[dict[str, Any]]:
    state = client.app.state.metrics  # type: ignore[attr-defined]
    async with state.uow() as uow:
        await state.projector.tick(uow, now=at(minutes))
    async with state.context.engine.connect() as conn:
        rows = await conn.execute(text("SELECT payload FROM outbox ORDER BY id"))
        # The street office's own accept and contact clocks run too; only report-ins matter here.
        return [r.payload for r in rows if r.payload["data"]["clock"] == "report_in"]


def reported(cid: uuid.UUID, whistle_id: uuid.UUID, unit: str, minutes: float) -> Any:
    return WhistleReportedV1(
        complaint_id=cid,
        case_id=uuid.uuid5(whistle_id, unit),
        unit_id=unit,
        round=1,
        role="co",
        whistle_id=whistle_id,
        reported_at=at(minutes),
    )


async def test_a_whistle_with_one_report_in_on_time_and_one_late_shows_on_the_scorecard(
    metrics: httpx.AsyncClient,
) -> None:
    cid, whistle_id = uuid.uuid4(), uuid.uuid4()
    blown = WhistleBlownV1(
        complaint_id=cid,
        whistle_id=whistle_id,
        case_id=uuid.uuid4(),
        street_unit_id="street-s0101",
        summoned_unit_ids=("dept-jt", "dept-cg-d01"),
        ask="请到现场联合处置",
        report_by=at(150),
        round=1,
        blown_at=at(30),
    )
    await project(
        metrics,
        ComplaintReceivedV1(complaint_id=cid, summary=summary(1)),
        reported(cid, whistle_id, "dept-jt", 60),  # on the department topic: may come first
        assigned(cid, 1, 1, "street-s0101", (), 0),
        blown,
    )
    assert await tick(metrics, 100) == []  # before the report-by time: only dept-cg-d01 runs
    fired = await tick(metrics, 200)
    assert [(e["type"], e["data"]["unit_id"], e["data"]["clock"]) for e in fired] == [
        ("jiesu.sla.breached.v1", "dept-cg-d01", "report_in"),
        ("jiesu.escalation.raised.v1", "dept-cg-d01", "report_in"),
    ]
    assert fired[1]["data"]["level"] == "reminder"
    await project(metrics, reported(cid, whistle_id, "dept-cg-d01", 300))
    assert len(await tick(metrics, 60 * 24 * 3)) == 2  # stopped: no supervision follows

    sla = (await metrics.get(f"/v1/complaints/{cid}/sla", headers=bearer("supervisor"))).json()
    states = {(c["unit_id"], c["clock"]): c["state"] for c in sla["clocks"]}
    assert states[("dept-jt", "report_in")] == "met"
    assert states[("dept-cg-d01", "report_in")] == "late"

    rows = await scorecard(metrics, "unit")
    assert pick(rows["dept-jt"], REPORT_IN) == (1, 1, 0, 1.0)
    assert pick(rows["dept-cg-d01"], REPORT_IN) == (1, 0, 1, 0.0)
    assert (rows["dept-jt"]["breaches"], rows["dept-cg-d01"]["breaches"]) == (0, 1)
    assert rows["street-s0101"]["whistles_blown"] == 1
    assert rows["street-s0101"]["report_ins_due"] == 0
    street = (await scorecard(metrics, "street"))["S0101"]
    assert street["whistles_blown"] == 1
    assert pick(street, REPORT_IN) == (2, 1, 1, 0.5)


async def test_consultations_count_for_each_participant_decided_in_time_or_fallen_back(
    metrics: httpx.AsyncClient,
) -> None:
    decided_one, fallen_one = uuid.uuid4(), uuid.uuid4()
    for n, (cid, decided_at, fallback, lead) in enumerate(
        [(decided_one, 100, False, "dept-hj"), (fallen_one, 260, True, "gov-d01")]
    ):
        consultation_id = uuid.uuid4()
        opened = ConsultationOpenedV1(
            complaint_id=cid,
            consultation_id=consultation_id,
            round=1,
            participants=("dept-cg-d01", "dept-hj"),
            reason="派单规则认定多家主办单位",
            deadline=at(240),
            opened_at=at(0),
        )
        decided = ConsultationDecidedV1(
            complaint_id=cid,
            consultation_id=consultation_id,
            lead_unit_id=lead,
            decided_by="system" if fallback else "dispatcher:1",
            fallback=fallback,
            decided_at=at(decided_at),
            round=1,
        )
        # Decided seen before opened (a replay from another partition order): the same facts.
        await project(metrics, decided, opened, assigned(cid, n + 1, 1, lead, (), decided_at))
    rows = await scorecard(metrics, "unit")
    for unit in ("dept-cg-d01", "dept-hj"):
        assert pick(rows[unit], CONSULTATIONS) == (2, 1, 1)
    assert pick((await scorecard(metrics, "district"))["D01"], CONSULTATIONS) == (2, 1, 1)


REPORT_IN = (
    "report_ins_due",
    "report_in_on_time",
    "report_in_late",
    "on_time_report_in_rate",
)
CONSULTATIONS = ("consultations", "consultations_decided_in_time", "consultations_fallen_back")


def pick(row: dict[str, Any], fields: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(row[f] for f in fields)


async def scorecard(client: httpx.AsyncClient, level: str) -> dict[str, dict[str, Any]]:
    answer = await client.get(
        "/v1/scorecards",
        params={"period": "2026-11", "level": level},
        headers=bearer("supervisor"),
    )
    assert answer.status_code == 200, answer.text
    return {row["key"]: row for row in answer.json()["items"]}
