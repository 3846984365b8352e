"""An Open311 request followed to closed with intake running whole: relay, consumers, broker."""

import asyncio
import base64
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from jiesu_common.contracts import make_event
from jiesu_common.contracts.envelope import EventPayload
from jiesu_common.contracts.events import (
    CaseAcceptedV1,
    CaseResolvedV1,
    ComplaintAssignedV1,
    ComplaintClosedV1,
    ComplaintSummaryV1,
    DeadlinesV1,
    JurisdictionV1,
    LocationV1,
    MaskedCallerV1,
    ReviewCompletedV1,
)
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.messaging.consumer import ConsumerRunner
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_intake.main import MIGRATIONS, create_app
from jiesu_intake.settings import IntakeSettings

from .conftest import SECRET, api_key, dispatch_catalog

V2 = "/open311/v2"


async def _wait(check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_a_request_filed_over_open311_is_followed_to_closed(
    new_database: DatabaseFactory, private_kafka_bootstrap: str
) -> None:
    kafka_bootstrap = private_kafka_bootstrap  # the session broker carries other tests' events
    url = await new_database("o311")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    key = base64.b64encode(os.urandom(32)).decode()
    settings = IntakeSettings(
        database={"url": url, "pool_size": 5},
        auth={"jwt_secret": SECRET},
        pii={"encryption_key": key, "hash_key": key},
        kafka={
            "bootstrap_servers": kafka_bootstrap,
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
        },
        outbox={"poll_interval_s": 0.2},
    )
    app = create_app(settings, catalog_fetch=dispatch_catalog())
    context = app.state.intake.context
    await context.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await _wait(lambda: _joined(context.runners))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            app_key = await api_key(client, "civic-app")
            filed = await client.post(
                f"{V2}/requests.json",
                data={
                    "api_key": app_key,
                    "service_code": "CITY-STREETLIGHT",
                    "address_string": "杏林路18号",
                    "description": "小区门口路灯连续三晚不亮",
                },
            )
            assert filed.status_code == 201, filed.text
            ticket = filed.json()[0]["service_request_id"]
            async with context.engine.connect() as conn:
                found = await conn.execute(
                    text("SELECT id FROM complaints WHERE ticket_no = :t"), {"t": ticket}
                )
                complaint_id = found.scalar_one()

            async def relayed() -> bool:  # complaint.received left through the outbox
                async with context.engine.connect() as conn:
                    left = await conn.execute(
                        text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    )
                    return left.scalar_one() == 0

            await _wait(relayed)
            for event in _lifecycle(complaint_id):
                await producer.send_and_wait(
                    event.topic, make_event(event).to_bytes(), key=str(complaint_id).encode()
                )

            async def closed() -> bool:
                shown = (await client.get(f"{V2}/requests/{ticket}.json")).json()[0]
                return bool(shown["status"] == "closed")

            await _wait(closed)
            shown = (await client.get(f"{V2}/requests/{ticket}.json")).json()[0]
            assert shown["agency_responsible"] == "清河区柳荫街道办事处"
            assert shown["expected_datetime"] == "2030-01-08T10:00:00+08:00"
            mine = await client.get(f"{V2}/requests/{ticket}.json", params={"api_key": app_key})
            assert "回访" in mine.json()[0]["status_notes"]
    finally:
        await producer.stop()
        await context.stop()


async def _joined(runners: list[ConsumerRunner]) -> bool:
    return bool(runners) and all(r.joined.is_set() for r in runners)


def _lifecycle(complaint_id: uuid.UUID) -> list[EventPayload]:
    now = datetime.now(UTC)
    case = {"complaint_id": complaint_id, "case_id": uuid.uuid4(), "unit_id": "street-s0101"}
    summary = ComplaintSummaryV1(
        ticket_no="x",
        channel="open311",
        kind="complaint",
        urgency="normal",
        content="x",
        location=LocationV1(),
        caller=MaskedCallerV1(),
        received_at=now,
    )
    return [
        ComplaintAssignedV1(
            complaint_id=complaint_id,
            assignment_id=uuid.uuid4(),
            round=1,
            lead_unit_id="street-s0101",
            category_code="CITY-STREETLIGHT",
            sla_class="general",
            deadlines=DeadlinesV1(
                accept_by=now + timedelta(hours=2),
                contact_by=now + timedelta(hours=24),
                resolve_by=datetime(2030, 1, 8, 2, 0, tzinfo=UTC),
                return_by=now + timedelta(hours=2),
            ),
            mode="auto",
            assigned_at=now,
            jurisdiction=JurisdictionV1(),
            summary=summary,
        ),
        CaseAcceptedV1(**case, round=1, role="lead", accepted_at=now),
        CaseResolvedV1(**case, round=1, role="lead", reply="已更换灯泡", resolved_at=now),
        ReviewCompletedV1(
            complaint_id=complaint_id,
            review_id=uuid.uuid4(),
            round=1,
            contacted=True,
            resolved=True,
            satisfaction="satisfied",
            reviewer="reviewer:1",
            completed_at=now,
        ),
        ComplaintClosedV1(complaint_id=complaint_id, round=1, closed_at=now),
    ]
