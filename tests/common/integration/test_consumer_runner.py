"""The consumer runner: inbox de-duplication, retries, DLQ, offsets after commit."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from jiesu_common.contracts import CloudEvent, make_event
from jiesu_common.contracts.events import ComplaintQueuedV1
from jiesu_common.db import UnitOfWork, session_factory
from jiesu_common.messaging.consumer import ConsumerRunner
from jiesu_common.messaging.kafka import dlq_topic, ensure_topics
from jiesu_common.settings import KafkaSettings

from .conftest import read_topic

QUEUED = ComplaintQueuedV1.event_type


async def _effects_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (event_id uuid, note text)"))


async def _count(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar_one())


def _event(note: str) -> CloudEvent:
    return make_event(
        ComplaintQueuedV1(
            complaint_id=uuid.uuid4(), reason="r", detail=note, queued_at=datetime.now(UTC)
        )
    )


async def _record_effect(payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
    if payload.detail == "boom":
        raise RuntimeError("handler cannot handle this")
    await uow.session.execute(
        text("INSERT INTO effects VALUES (:id, :note)"), {"id": event.id, "note": payload.detail}
    )


def _runner(
    engine: AsyncEngine,
    settings: KafkaSettings,
    producer: AIOKafkaProducer,
    *,
    group: str,
    topic: str,
    handler: Any = None,
    name: str = "test",
    slow_topics: tuple[str, ...] = (),
) -> ConsumerRunner:
    return ConsumerRunner(
        settings=settings,
        group_id=group,
        topics=[topic, *slow_topics],
        handlers={QUEUED: handler or _record_effect},
        uow_factory=lambda: UnitOfWork(session_factory(engine)),
        producer=producer,
        client_id=name,
        slow_topics=slow_topics,
    )


async def _run_until(runner: ConsumerRunner, done: Any, timeout: float = 30) -> None:
    task = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(timeout):
            while not await done():
                await asyncio.sleep(0.1)
    finally:
        await runner.stop()
        await asyncio.wait_for(task, 20)


async def test_redelivered_event_is_applied_once_and_poison_goes_to_dlq(
    messaging_engine: AsyncEngine,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
    unique_topic: Any,
    kafka_bootstrap: str,
) -> None:
    await _effects_table(messaging_engine)
    topic = unique_topic("runner")
    group = f"g-{uuid.uuid4().hex[:6]}"
    settings = kafka_settings.model_copy(update={"partitions": 1, "max_retries": 2})
    await ensure_topics(settings, [topic, dlq_topic(topic, group)])
    good, failing = _event("ok"), _event("boom")
    for raw in (
        good.to_bytes(),
        b"{not json",
        failing.to_bytes(),
        good.to_bytes(),
        _event("after").to_bytes(),
    ):
        await producer.send_and_wait(topic, raw, key=b"k")

    runner = _runner(messaging_engine, settings, producer, group=group, topic=topic)

    async def after_is_done() -> bool:
        return (
            await _count(messaging_engine, "SELECT count(*) FROM effects WHERE note='after'") == 1
        )

    await _run_until(runner, after_is_done)

    assert await _count(messaging_engine, "SELECT count(*) FROM effects WHERE note='ok'") == 1
    assert await _count(messaging_engine, "SELECT count(*) FROM effects WHERE note='boom'") == 0
    assert await _count(messaging_engine, "SELECT count(*) FROM inbox") == 2
    parked = await read_topic(kafka_bootstrap, dlq_topic(topic, group), expected=2)
    assert len(parked) == 2
    errors = [dict(r.headers)["x-error-type"].decode() for r in parked]
    assert errors == ["PoisonMessage", "RuntimeError"]
    assert {dict(r.headers)["x-original-offset"] for r in parked} == {b"1", b"2"}


async def test_offsets_are_committed_so_a_restarted_group_does_not_reapply(
    messaging_engine: AsyncEngine,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
    unique_topic: Any,
) -> None:
    await _effects_table(messaging_engine)
    topic = unique_topic("restart")
    group = f"g-{uuid.uuid4().hex[:6]}"
    settings = kafka_settings.model_copy(update={"partitions": 2})
    await ensure_topics(settings, [topic])
    for n in range(20):
        await producer.send_and_wait(topic, _event(f"n{n}").to_bytes(), key=str(n).encode())

    def runner() -> ConsumerRunner:
        return _runner(messaging_engine, settings, producer, group=group, topic=topic)

    async def twenty() -> bool:
        return await _count(messaging_engine, "SELECT count(*) FROM effects") == 20

    await _run_until(runner(), twenty)
    await producer.send_and_wait(topic, _event("late").to_bytes(), key=b"x")

    async def late() -> bool:
        return await _count(messaging_engine, "SELECT count(*) FROM effects WHERE note='late'") == 1

    await _run_until(runner(), late)
    assert await _count(messaging_engine, "SELECT count(*) FROM effects") == 21


async def test_a_polls_partitions_share_one_transaction_and_offsets_are_committed_on_stop(
    messaging_engine: AsyncEngine,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
    unique_topic: Any,
    kafka_bootstrap: str,
) -> None:
    async with messaging_engine.begin() as conn:
        await conn.execute(text("CREATE TABLE effects (event_id uuid, note text, tx bigint)"))
    topic = unique_topic("together")
    group = f"g-{uuid.uuid4().hex[:6]}"
    # Commits held back far longer than the run: only stopping can have committed them.
    settings = kafka_settings.model_copy(update={"partitions": 4, "commit_interval_ms": 600_000})
    await ensure_topics(settings, [topic])
    for n in range(40):
        await producer.send(topic, _event(f"t{n}").to_bytes(), key=str(n).encode())
    await producer.flush()

    async def record_with_txid(payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        await uow.session.execute(
            text("INSERT INTO effects VALUES (:id, :note, txid_current())"),
            {"id": event.id, "note": payload.detail},
        )

    runner = _runner(
        messaging_engine, settings, producer, group=group, topic=topic, handler=record_with_txid
    )

    async def all_applied() -> bool:
        return await _count(messaging_engine, "SELECT count(*) FROM effects") == 40

    await _run_until(runner, all_applied)

    assert await _count(messaging_engine, "SELECT count(DISTINCT event_id) FROM effects") == 40
    # Four partitions' events in fewer transactions than partitions: polls were applied whole.
    assert await _count(messaging_engine, "SELECT count(DISTINCT tx) FROM effects") < 4
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group)
    await reader.start()
    try:
        committed = [await reader.committed(TopicPartition(topic, p)) for p in range(4)]
    finally:
        await reader.stop()
    assert sum(offset or 0 for offset in committed) == 40


async def test_inbox_sweep_forgets_only_ids_past_retention(
    messaging_engine: AsyncEngine, kafka_settings: KafkaSettings
) -> None:
    from pathlib import Path

    from jiesu_common.runtime import ServiceContext
    from jiesu_common.settings import ServiceSettings

    async with messaging_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO inbox VALUES ('g', gen_random_uuid(), 't', now() - interval '20 days'),"
                " ('g', gen_random_uuid(), 't', now() - interval '1 day')"
            )
        )
    settings = ServiceSettings(
        database={"url": messaging_engine.url.render_as_string(hide_password=False)},
        kafka=kafka_settings,
    )
    context = ServiceContext(settings=settings, migrations_dir=Path("."), produces=[])
    assert await context.sweep_inbox_once() == 1
    assert await _count(messaging_engine, "SELECT count(*) FROM inbox") == 1
    await context.engine.dispose()


async def test_a_rebalance_mid_stream_applies_everything_exactly_once(
    messaging_engine: AsyncEngine,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
    unique_topic: Any,
) -> None:
    await _effects_table(messaging_engine)
    topic = unique_topic("rebalance")
    group = f"g-{uuid.uuid4().hex[:6]}"
    settings = kafka_settings.model_copy(update={"partitions": 4, "poll_max_records": 5})
    await ensure_topics(settings, [topic])
    for n in range(300):
        await producer.send(topic, _event(f"r{n}").to_bytes(), key=str(n % 37).encode())
    await producer.flush()

    async def slow_effect(payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        await asyncio.sleep(0.005)
        await _record_effect(payload, event, uow)

    def runner(name: str) -> ConsumerRunner:
        return _runner(
            messaging_engine,
            settings,
            producer,
            group=group,
            topic=topic,
            handler=slow_effect,
            name=name,
        )

    first, second = runner("first"), runner("second")
    first_task = asyncio.create_task(first.run())
    async with asyncio.timeout(60):
        while await _count(messaging_engine, "SELECT count(*) FROM effects") < 50:
            await asyncio.sleep(0.05)
    second_task = asyncio.create_task(second.run())  # the group rebalances under load
    async with asyncio.timeout(60):
        while await _count(messaging_engine, "SELECT count(*) FROM effects") < 150:
            await asyncio.sleep(0.05)
    await first.stop()  # and again when the first member leaves
    await asyncio.wait_for(first_task, 30)
    async with asyncio.timeout(90):
        while await _count(messaging_engine, "SELECT count(*) FROM effects") < 300:
            await asyncio.sleep(0.1)
    await second.stop()
    await asyncio.wait_for(second_task, 30)
    assert await _count(messaging_engine, "SELECT count(DISTINCT event_id) FROM effects") == 300
    assert await _count(messaging_engine, "SELECT count(*) FROM effects") == 300


async def test_parked_messages_are_replayed_to_their_original_topic(
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
    unique_topic: Any,
    kafka_bootstrap: str,
) -> None:
    from jiesu_common.messaging.dlq import replay_dlq

    topic = unique_topic("replay")
    dlq = dlq_topic(topic, "g")
    await ensure_topics(kafka_settings.model_copy(update={"partitions": 1}), [topic, dlq])
    parked = _event("parked")
    await producer.send_and_wait(
        dlq, parked.to_bytes(), key=b"k", headers=[("x-original-topic", topic.encode())]
    )
    assert await replay_dlq(kafka_settings, dlq=dlq) == 1
    back = await read_topic(kafka_bootstrap, topic, expected=1)
    assert [CloudEvent.from_bytes(r.value).id for r in back] == [parked.id]
    assert dict(back[0].headers)["x-replayed-from"] == dlq.encode()
    assert await replay_dlq(kafka_settings, dlq=dlq) == 0  # the replay group remembers


async def test_slow_topics_are_read_once_a_window_while_events_flow_and_nothing_is_lost(
    messaging_engine: AsyncEngine,
    producer: AIOKafkaProducer,
    kafka_settings: KafkaSettings,
    unique_topic: Any,
) -> None:
    """A critical group's slow topic does not wake its short fetches; its events still come.

    For four seconds a critical topic gets an event every 50 ms and a slow one every 100 ms.
    Each slow event woke the group before, so each came in a transaction of its own; now
    they come in one window a second (as set here), all of them, exactly once.
    """
    await _effects_table(messaging_engine)
    fast, slow = unique_topic("fast"), unique_topic("slow")
    group = f"g-{uuid.uuid4().hex[:6]}"
    settings = kafka_settings.model_copy(update={"partitions": 2, "slow_topics_window_ms": 1000})
    await ensure_topics(settings, [fast, slow])
    batches: dict[str, set[int]] = {"f": set(), "s": set()}
    delays: dict[str, list[float]] = {"f": [], "s": []}
    loop = asyncio.get_running_loop()

    async def record(payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        kind, sent = payload.detail.split(":")[:2]
        batches[kind].add(id(uow))  # one unit of work per transaction
        delays[kind].append(loop.time() - float(sent))
        await _record_effect(payload, event, uow)

    runner = _runner(
        messaging_engine,
        settings,
        producer,
        group=group,
        topic=fast,
        handler=record,
        name="slow-topics",
        slow_topics=(slow,),
    )
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(runner.joined.wait(), 30)
        await asyncio.sleep(1.5)  # past the first window, opened at the assignment
        for n in range(80):
            await producer.send(
                fast, _event(f"f:{loop.time()}:{n}").to_bytes(), key=str(n).encode()
            )
            if n % 2 == 0:
                await producer.send(
                    slow, _event(f"s:{loop.time()}:{n}").to_bytes(), key=str(n).encode()
                )
            await asyncio.sleep(0.05)

        async def all_applied() -> bool:
            return await _count(messaging_engine, "SELECT count(*) FROM effects") == 120

        async with asyncio.timeout(15):
            while not await all_applied():
                await asyncio.sleep(0.1)
    finally:
        await runner.stop()
        await asyncio.wait_for(task, 20)

    assert await _count(messaging_engine, "SELECT count(DISTINCT event_id) FROM effects") == 120
    assert await _count(messaging_engine, "SELECT count(*) FROM inbox") == 120
    assert len(delays["s"]) == 40
    # Forty slow events over about four seconds: a handful of windows, not forty wake-ups.
    assert len(batches["s"]) <= 10, len(batches["s"])
    # Each waited at most about a window and a fetch; some waited most of a window.
    assert max(delays["s"]) < 2.5 and max(delays["s"]) > 0.5, delays["s"]
    # The critical topic's events were not held back by the windows.
    assert sorted(delays["f"])[int(len(delays["f"]) * 0.9)] < 0.5, delays["f"]
