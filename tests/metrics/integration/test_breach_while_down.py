"""A clock that passes its deadline while metrics is down breaches exactly once after restart."""

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from jiesu_common.contracts import TOPICS, make_event
from jiesu_common.contracts.events import ComplaintAssignedV1, DeadlinesV1
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.runtime import ServiceContext
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_metrics.main import MIGRATIONS, create_context
from jiesu_metrics.settings import MetricsSettings
from tests.metrics.scenario import assigned


async def sla_events(bootstrap: str, complaint_id: uuid.UUID) -> list[str]:
    """Every SLA event about the complaint on the sla topic, read from the start."""
    consumer = AIOKafkaConsumer(
        TOPICS["sla"], bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        found: list[str] = []
        batches = await consumer.getmany(timeout_ms=3000)
        for records in batches.values():
            for record in records:
                event = json.loads(record.value)
                if event["subject"] == str(complaint_id):
                    found.append(f"{event['type']}:{event['data']['clock']}")
        return found
    finally:
        await consumer.stop()


async def started(settings: MetricsSettings) -> ServiceContext:
    context = create_context(settings)
    await context.start()
    deadline = time.monotonic() + 60
    while not all(r.joined.is_set() for r in context.runners):
        assert time.monotonic() < deadline, "metrics consumers did not join"
        await asyncio.sleep(0.1)
    return context


async def test_a_deadline_passed_while_metrics_was_down_breaches_once(
    new_database: DatabaseFactory, private_kafka_bootstrap: str
) -> None:
    kafka_bootstrap = private_kafka_bootstrap  # the session broker carries other tests' events
    url = await new_database("metrics")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    settings = MetricsSettings(
        database={"url": url},
        auth={"jwt_secret": "metrics-tests-secret-0123456789abcdef"},
        kafka={
            "bootstrap_servers": kafka_bootstrap,
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
            "partitions": 1,
        },
        tick_interval_s=0.2,
    )

    context = await started(settings)
    complaint_id = uuid.uuid4()
    now = datetime.now(UTC)
    event = assigned(complaint_id, 7, 1, "dept-hj", (), 0).model_copy(
        update={
            "assigned_at": now,
            "deadlines": DeadlinesV1(
                accept_by=now + timedelta(seconds=8),
                contact_by=now + timedelta(days=1),
                resolve_by=now + timedelta(days=7),
                return_by=now + timedelta(hours=2),
            ),
        }
    )
    assert isinstance(event, ComplaintAssignedV1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            TOPICS["dispatch"],
            make_event(event).model_dump_json().encode(),
            key=str(complaint_id).encode(),
        )
    finally:
        await producer.stop()
    async with context.engine.connect() as conn:
        for _ in range(100):
            seen = await conn.scalar(
                text("SELECT count(*) FROM clocks WHERE complaint_id = :c"), {"c": complaint_id}
            )
            if seen == 3:
                break
            await asyncio.sleep(0.1)
    assert seen == 3, "metrics did not start the round's clocks"
    await context.stop()  # metrics is down from here ...

    await asyncio.sleep((now + timedelta(seconds=10) - datetime.now(UTC)).total_seconds())
    assert await sla_events(kafka_bootstrap, complaint_id) == []  # ... as the deadline passes

    context = await started(settings)  # back up: the breach is caught up once
    try:
        for _ in range(100):
            fired = await sla_events(kafka_bootstrap, complaint_id)
            if fired:
                break
    finally:
        await context.stop()
    context = await started(settings)  # and a second restart fires nothing again
    await asyncio.sleep(2)
    await context.stop()
    fired = await sla_events(kafka_bootstrap, complaint_id)
    # No warning for a clock first looked at past its deadline; one breach, one reminder.
    assert sorted(fired) == ["jiesu.escalation.raised.v1:accept", "jiesu.sla.breached.v1:accept"]
