"""The outbox as the durable log, against real PostgreSQL and a broker that dies and returns."""

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from jiesu_common import cli
from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import ComplaintQueuedV1
from jiesu_common.db import UnitOfWork, session_factory
from jiesu_common.embedded import EmbeddedBroker
from jiesu_common.messaging.consumer import ConsumerRunner
from jiesu_common.messaging.guard import BrokerGuard
from jiesu_common.messaging.kafka import dlq_topic, new_producer
from jiesu_common.messaging.outbox import prune_published
from jiesu_common.messaging.relay import BrokerRegressed, OutboxRelay
from jiesu_common.settings import KafkaSettings

from .conftest import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class Stage:
    """A broker that can die and come back on the same port, a guard, a relay, one topic."""

    def __init__(self, engine: AsyncEngine, broker: EmbeddedBroker, topic: str) -> None:
        self.engine, self.broker, self.topic = engine, broker, topic
        self.settings = KafkaSettings(
            bootstrap_servers=broker.bootstrap,
            partitions=3,
            request_timeout_ms=3000,
            probe_interval_s=0.2,
            retry_backoff_ms=10,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
        )
        self.guard = BrokerGuard(
            settings=self.settings,
            engine=engine,
            client_id="test",
            topics=[topic, dlq_topic(topic, "g")],
            produces=[topic],
        )
        self.producer: AIOKafkaProducer = new_producer(self.settings, "test")
        self.relay = OutboxRelay(engine=engine, producer=self.producer, guard=self.guard)
        self.guard.relay = self.relay

    async def start(self) -> None:
        await self.guard.verify()
        await self.producer.start()

    async def publish(self, events: int, keys: int) -> dict[str, list[str]]:
        """Write ``events`` outbox rows over ``keys`` complaints; returns ids per key in order."""
        sessions = session_factory(self.engine)
        complaints = [uuid.uuid4() for _ in range(keys)]
        sent: dict[str, list[str]] = defaultdict(list)
        for n in range(events):
            cid = complaints[n % keys]
            async with UnitOfWork(sessions) as uow:
                payload = ComplaintQueuedV1(
                    complaint_id=cid, reason="test", detail=str(n), queued_at=datetime.now(UTC)
                )
                sent[str(cid)].append(str(uow.publish(payload).id))
                await uow.commit()
        return sent

    async def drain(self) -> int:
        total = 0
        while published := await self.relay.publish_batch():
            total += published
        return total

    async def restart_broker(self) -> None:
        await self.producer.stop()
        await asyncio.to_thread(self.broker.stop)
        await asyncio.to_thread(self.broker.start)
        self.producer = new_producer(self.settings, "test")
        await self.producer.start()
        self.relay._producer = self.producer

    async def scalar(self, sql: str) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar()

    async def close(self) -> None:
        await self.producer.stop()
        await self.guard.close()


@pytest.fixture
async def stage_factory(
    messaging_engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    stages: list[Stage] = []
    brokers: list[EmbeddedBroker] = []

    async def make(cluster_id: str | None = None) -> Stage:
        broker = EmbeddedBroker(log_path=tmp_path / "tansu.log", cluster_id=cluster_id)
        await asyncio.to_thread(broker.start)
        brokers.append(broker)
        stage = Stage(messaging_engine, broker, ComplaintQueuedV1.topic)
        await stage.start()
        stages.append(stage)
        return stage

    yield make
    for stage in stages:
        await stage.close()
    for broker in brokers:
        broker.stop()


def _in_order(records: list[Any], keys: set[str]) -> dict[str, list[str]]:
    got: dict[str, list[str]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        if r.key.decode() in keys:
            got[r.key.decode()].append(json.loads(r.value)["id"])
    return dict(got)


async def _read_all(stage: Stage, sent: dict[str, list[str]]) -> dict[str, list[str]]:
    wanted = {e for ids in sent.values() for e in ids}

    def done(records: list[Any]) -> bool:
        return wanted <= {json.loads(r.value)["id"] for r in records}

    records = await read_topic(
        stage.broker.bootstrap, stage.topic, expected=10**9, timeout_ms=20000, until=done
    )
    return _in_order(records, set(sent))


async def _where_published(stage: Stage) -> dict[str, tuple[int, int]]:
    """Each outbox row's event id, with the partition and offset it was recorded at."""
    async with stage.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT event_id::text, published_partition, published_offset FROM outbox")
        )
        return {r[0]: (r[1], r[2]) for r in rows}


async def test_published_rows_are_kept_with_the_partition_and_offset_the_broker_gave(
    stage_factory: Callable[..., Any],
) -> None:
    stage: Stage = await stage_factory()
    sent = await stage.publish(12, keys=4)
    assert await stage.drain() == 12
    assert await stage.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    assert await stage.scalar("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == 12
    records = await read_topic(stage.broker.bootstrap, stage.topic, expected=12)
    on_broker = {json.loads(r.value)["id"]: (r.partition, r.offset) for r in records}
    assert await _where_published(stage) == on_broker
    acks = await stage.scalar("SELECT sum(next_offset) FROM outbox_acks")
    assert acks == 12
    assert _in_order(records, set(sent)) == dict(sent)


async def test_rows_published_one_at_a_time_are_kept_and_acknowledged_as_batches_are(
    stage_factory: Callable[..., Any],
) -> None:
    # A batch of one row is marked by a statement of its own (see outbox.record_published).
    stage: Stage = await stage_factory()
    for _ in range(5):
        await stage.publish(1, keys=1)
        assert await stage.relay.publish_batch() == 1
    await stage.publish(4, keys=2)
    assert await stage.drain() == 4
    records = await read_topic(stage.broker.bootstrap, stage.topic, expected=9)
    on_broker = {json.loads(r.value)["id"]: (r.partition, r.offset) for r in records}
    in_outbox = await _where_published(stage)
    assert len(in_outbox) == 9 and in_outbox == on_broker
    async with stage.engine.connect() as conn:
        acks = await conn.execute(text("SELECT partition, next_offset FROM outbox_acks"))
        acked = {r[0]: r[1] for r in acks}
    ends: dict[int, int] = {}
    for partition, offset in on_broker.values():
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    assert acked == ends


async def test_a_broker_back_as_a_new_cluster_gets_every_retained_event_again_in_order(
    stage_factory: Callable[..., Any],
) -> None:
    stage: Stage = await stage_factory()
    sent = await stage.publish(60, keys=6)
    await stage.drain()
    old_cluster = stage.broker.cluster_id
    await stage.restart_broker()
    assert stage.broker.cluster_id != old_cluster

    repair = await stage.guard.verify()
    assert repair.cluster_changed and repair.republished == 60
    assert await stage.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 60
    assert await stage.drain() == 60
    assert await _read_all(stage, sent) == dict(sent)  # each once, in order per complaint
    # A second look finds nothing more to do.
    again = await stage.guard.verify()
    assert again.republished == 0 and not again.cluster_changed


async def test_a_broker_that_kept_its_identity_but_lost_the_tail_gets_the_tail_again(
    stage_factory: Callable[..., Any],
) -> None:
    stage: Stage = await stage_factory(cluster_id=f"fixed-{uuid.uuid4().hex[:6]}")
    sent = await stage.publish(30, keys=5)
    await stage.drain()
    await stage.restart_broker()  # same cluster id, empty: every partition is behind

    repair = await stage.guard.verify()
    assert not repair.cluster_changed
    assert repair.behind and repair.republished == 30
    await stage.drain()
    assert await _read_all(stage, sent) == dict(sent)


async def test_an_acknowledgement_below_an_earlier_one_sends_nothing_more_until_repaired(
    stage_factory: Callable[..., Any],
) -> None:
    stage: Stage = await stage_factory()
    await stage.publish(5, keys=1)
    await stage.drain()
    # The broker claims to be where it was, but hands out offsets below what it acknowledged.
    stage.relay.acks = {(stage.topic, p): 100 for p in range(stage.settings.partitions)}
    await stage.publish(1, keys=1)
    with pytest.raises(BrokerRegressed):
        await stage.relay.publish_batch()
    assert await stage.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 1


async def test_consumers_read_a_new_cluster_from_the_start_and_apply_each_event_once(
    stage_factory: Callable[..., Any], messaging_engine: AsyncEngine
) -> None:
    stage: Stage = await stage_factory()
    async with messaging_engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (event_id uuid NOT NULL)"))

    async def handle(payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        await uow.session.execute(
            text("INSERT INTO effects (event_id) VALUES (:id)"), {"id": event.id}
        )

    runner = ConsumerRunner(
        settings=stage.settings,
        group_id="g",
        topics=[stage.topic],
        handlers={ComplaintQueuedV1.event_type: handle},
        uow_factory=lambda: UnitOfWork(session_factory(messaging_engine)),
        producer=stage.producer,
        client_id="test-consumer",
        guard=stage.guard,
    )
    stage.guard.on_verified.append(runner.refresh)
    task = asyncio.create_task(runner.run())
    try:
        await stage.publish(20, keys=4)
        await stage.drain()
        await _until(lambda: stage.scalar("SELECT count(*) FROM effects"), 20)
        await stage.restart_broker()
        await stage.guard.verify()
        await stage.publish(10, keys=2)  # filed while the broker was away
        await stage.drain()
        await _until(lambda: stage.scalar("SELECT count(*) FROM effects"), 30)
        await asyncio.sleep(2)  # anything applied twice would show by now
        assert await stage.scalar("SELECT count(*) FROM effects") == 30
        assert await stage.scalar("SELECT count(DISTINCT event_id) FROM effects") == 30
    finally:
        await runner.stop()
        await asyncio.wait_for(task, 20)


async def test_pruning_deletes_only_published_rows_past_the_retention(
    stage_factory: Callable[..., Any],
) -> None:
    stage: Stage = await stage_factory()
    await stage.publish(6, keys=2)
    await stage.drain()
    await stage.publish(2, keys=1)  # pending, and old: never pruned
    async with stage.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE outbox SET created_at = now() - interval '9 days', "
                "published_at = CASE WHEN published_at IS NULL THEN NULL "
                "ELSE now() - interval '9 days' END WHERE id IN "
                "(SELECT id FROM outbox ORDER BY id LIMIT 4) OR published_at IS NULL"
            )
        )
    cutoff = datetime.now(UTC) - timedelta(days=7)
    assert await prune_published(stage.engine, cutoff, batch_size=3) == 4
    assert await stage.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 2
    assert await stage.scalar("SELECT count(*) FROM outbox") == 4


async def test_republish_by_hand_sends_again_what_was_created_since_a_time(
    stage_factory: Callable[..., Any], messaging_engine: AsyncEngine, capsys: Any
) -> None:
    stage: Stage = await stage_factory()
    await stage.publish(3, keys=1)
    await stage.drain()
    since = datetime.now(UTC)
    later = await stage.publish(4, keys=2)
    await stage.drain()
    url = messaging_engine.url.render_as_string(hide_password=False)
    argv = ["outbox", "republish", "--service", "intake", "--database-url", url]
    assert await asyncio.to_thread(cli.main, [*argv, "--since", since.isoformat()]) == 0
    assert "4 event(s)" in capsys.readouterr().out
    assert await stage.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 4
    assert await stage.drain() == 4
    records = await read_topic(stage.broker.bootstrap, stage.topic, expected=11)
    ids = [json.loads(r.value)["id"] for r in records]
    assert all(ids.count(e) == 2 for events in later.values() for e in events)


async def _until(read: Callable[[], Any], want: int, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (have := await read()) < want:
        assert loop.time() < deadline, f"{have} < {want} after {timeout} s"
        await asyncio.sleep(0.2)
