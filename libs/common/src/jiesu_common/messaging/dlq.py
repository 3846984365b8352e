"""Replaying a dead-letter topic back onto the topic its messages came from."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from jiesu_common.settings import KafkaSettings


async def replay_dlq(settings: KafkaSettings, *, dlq: str, max_messages: int = 10_000) -> int:
    """Re-publish parked messages to their original topic; returns how many were replayed.

    Consumers de-duplicate by event id, so replaying to every group is harmless.
    """
    consumer = AIOKafkaConsumer(
        dlq,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"jiesu-dlq-replay.{dlq}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        while replayed < max_messages:
            batches = await consumer.getmany(timeout_ms=2000, max_records=500)
            if not batches:
                break
            for tp, records in batches.items():
                for record in records:
                    headers = dict(record.headers or ())
                    original = headers.get("x-original-topic", b"").decode()
                    if not original:
                        continue
                    await producer.send_and_wait(
                        original,
                        value=record.value,
                        key=record.key,
                        headers=[("x-replayed-from", dlq.encode())],
                    )
                    replayed += 1
                await consumer.commit({tp: records[-1].offset + 1})
    finally:
        await consumer.stop()
        await producer.stop()
    return replayed
