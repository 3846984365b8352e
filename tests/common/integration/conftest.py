"""A database with just the messaging tables, plus broker helpers."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from jiesu_common.db import create_engine, new_metadata
from jiesu_common.messaging.tables import add_messaging_tables
from jiesu_common.settings import DatabaseSettings, KafkaSettings
from jiesu_common.testing.plugin import DatabaseFactory


@pytest.fixture
async def messaging_engine(new_database: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    url = await new_database("msg")
    engine = create_engine(DatabaseSettings(url=url, pool_size=5))
    metadata = new_metadata()
    add_messaging_tables(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        partitions=3,
        retry_backoff_ms=10,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )


async def read_topic(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout_ms: int = 15000,
    until: Callable[[list[Any]], bool] | None = None,
) -> list[Any]:
    """Read a topic from the start until ``expected`` records (or ``until`` holds) or the time-out."""
    import time

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    deadline = time.monotonic() + timeout_ms / 1000
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
            if until is not None and until(records):
                break
    finally:
        await consumer.stop()
    return records
