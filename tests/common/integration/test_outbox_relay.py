"""The outbox relay against real PostgreSQL and a real broker."""

import asyncio
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from jiesu_common.contracts import CloudEvent, make_event
from jiesu_common.contracts.events import ComplaintQueuedV1
from jiesu_common.db import UnitOfWork, session_factory
from jiesu_common.messaging.kafka import ensure_topics
from jiesu_common.messaging.relay import OutboxRelay
from jiesu_common.messaging.tables import outbox_insert_sql
from jiesu_common.settings import KafkaSettings

from .conftest import read_topic

TOPIC = ComplaintQueuedV1.topic


def _queued(complaint_id: uuid.UUID, n: int) -> ComplaintQueuedV1:
    return ComplaintQueuedV1(
        complaint_id=complaint_id, reason="test", detail=str(n), queued_at=datetime.now(UTC)
    )


def _row(event: CloudEvent) -> dict[str, object]:
    return {
        "event_id": event.id,
        "topic": TOPIC,
        "key": event.subject,
        "event_type": event.type,
        "payload": event.model_dump_json(),
    }


async def _topic_ready(kafka_settings: KafkaSettings) -> None:
    await ensure_topics(kafka_settings, [TOPIC])


async def test_transactions_committing_out_of_sequence_order_lose_no_row(
    messaging_engine: AsyncEngine,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
    kafka_bootstrap: str,
) -> None:
    await _topic_ready(kafka_settings)
    sessions = session_factory(messaging_engine)
    relay = OutboxRelay(engine=messaging_engine, producer=producer)
    early, late = uuid.uuid4(), uuid.uuid4()

    # The first transaction takes the lower outbox id but commits last.
    event_early = make_event(_queued(early, 1))
    async with sessions() as first:
        await first.execute(outbox_insert_sql(), _row(event_early))
        async with UnitOfWork(sessions) as second:
            event_late = second.publish(_queued(late, 2))
            await second.commit()
        assert await relay.publish_batch() == 1  # only the committed row is visible
        await first.commit()
    assert await relay.publish_batch() == 1  # the lower id is not skipped afterwards

    async with messaging_engine.connect() as conn:
        pending = text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        assert (await conn.execute(pending)).scalar_one() == 0
    records = await read_topic(kafka_bootstrap, TOPIC, expected=10, timeout_ms=3000)
    ids = {json.loads(r.value)["id"] for r in records}
    assert {str(event_early.id), str(event_late.id)} <= ids


async def test_two_relays_publish_everything_in_order_per_complaint(
    messaging_engine: AsyncEngine,
    kafka_settings: KafkaSettings,
    kafka_bootstrap: str,
) -> None:
    topic_settings = kafka_settings.model_copy(update={"partitions": 3})
    await ensure_topics(topic_settings, [TOPIC])
    sessions = session_factory(messaging_engine)
    complaints = [uuid.uuid4() for _ in range(12)]
    sent: dict[str, list[str]] = defaultdict(list)
    for n in range(240):
        async with UnitOfWork(sessions) as uow:
            cid = complaints[n % len(complaints)]
            sent[str(cid)].append(str(uow.publish(_queued(cid, n)).id))
            await uow.commit()

    producers = [AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all") for _ in range(2)]
    for p in producers:
        await p.start()
    relays = [OutboxRelay(engine=messaging_engine, producer=p, batch_size=7) for p in producers]

    async def drain(relay: OutboxRelay) -> None:
        while await relay.publish_batch():
            await asyncio.sleep(0)

    for _ in range(10):  # a relay may stand back while the other holds a key's earlier rows
        await asyncio.gather(*(drain(r) for r in relays))
    for p in producers:
        await p.stop()

    mine = set(complaints)
    wanted = {event_id for ids in sent.values() for event_id in ids}

    def all_read(records: list[Any]) -> bool:
        # Read until every published event is in hand (a slow machine needs longer).
        return wanted <= {json.loads(r.value)["id"] for r in records}

    records = [
        r
        for r in await read_topic(
            kafka_bootstrap, TOPIC, expected=10**9, timeout_ms=30000, until=all_read
        )
        if uuid.UUID(r.key.decode()) in mine
    ]
    got: dict[str, list[str]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        event_id = json.loads(r.value)["id"]
        if event_id not in got[r.key.decode()]:
            got[r.key.decode()].append(event_id)
    assert dict(got) == dict(sent)
