"""The machine's raw limits on the same PostgreSQL and broker, with plain asyncpg and aiokafka.

These are the ceilings Jiesu's figures are divided by: a single-row commit, a row plus an
outbox row in one transaction, the broker's produce and consume rates, and a minimal
intake → outbox → broker → dispatch pipeline (writer, relay, consumer writing a row), each
with the same durability Jiesu asks for (synchronous commit, ``acks=all``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from jiesu_common.db.engine import asyncpg_dsn
from jiesu_common.messaging.kafka import ensure_topics
from jiesu_common.settings import KafkaSettings

SCRATCH_DB = "jiesu_bench_raw"
WORKERS = 8  # concurrent connections for the commit-rate loops
PAYLOAD = {"type": "jiesu.bench.v1", "data": {"content": "测量" * 200}}  # ~1 KB, like an event

_SCHEMA = """
CREATE TABLE IF NOT EXISTS raw_rows (id uuid PRIMARY KEY, body jsonb NOT NULL,
    at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS raw_outbox (id bigserial PRIMARY KEY, key text NOT NULL,
    payload jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS raw_sink (event_id uuid PRIMARY KEY, body jsonb NOT NULL);
TRUNCATE raw_rows, raw_outbox, raw_sink;
"""


@dataclass
class RawLimits:
    """Operations per second."""

    row_commit: float
    row_outbox_commit: float
    produce: float
    consume: float
    pipeline: float

    def as_dict(self) -> dict[str, float]:
        """JSON-friendly."""
        return {k: round(v, 1) for k, v in vars(self).items()}


async def measure(postgres_url: str, bootstrap: str, *, seconds: float) -> RawLimits:
    """All five limits, one after another, each for about ``seconds``."""
    dsn = await _scratch_database(postgres_url)
    pool = await asyncpg.create_pool(dsn, min_size=WORKERS, max_size=WORKERS + 2)
    try:
        await pool.execute(_SCHEMA)
        row = await _commit_rate(pool, seconds, with_outbox=False)
        row_outbox = await _commit_rate(pool, seconds, with_outbox=True)
        await pool.execute("TRUNCATE raw_outbox")
        produce, consume = await _broker_rates(bootstrap, seconds)
        pipeline = await _pipeline_rate(pool, bootstrap, seconds)
    finally:
        await pool.close()
    return RawLimits(row, row_outbox, produce, consume, pipeline)


async def _scratch_database(postgres_url: str) -> str:
    """The DSN of a scratch database on the same server (created when missing)."""
    base = asyncpg_dsn(postgres_url)
    admin = await asyncpg.connect(base.rsplit("/", 1)[0] + "/postgres")
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", SCRATCH_DB)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{SCRATCH_DB}"')
    finally:
        await admin.close()
    return base.rsplit("/", 1)[0] + f"/{SCRATCH_DB}"


async def _commit_rate(pool: asyncpg.Pool, seconds: float, *, with_outbox: bool) -> float:
    body = json.dumps(PAYLOAD, ensure_ascii=False)
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.perf_counter() < stop_at:
                await _commit_row(conn, body, with_outbox=with_outbox)
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return done / (time.perf_counter() - started)


async def _commit_row(conn: asyncpg.Connection, body: str, *, with_outbox: bool) -> None:
    """One transaction: a row, and (as Jiesu writes an event) an outbox row keyed by it."""
    row_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute("INSERT INTO raw_rows (id, body) VALUES ($1, $2::jsonb)", row_id, body)
        if with_outbox:
            await conn.execute(
                "INSERT INTO raw_outbox (key, payload) VALUES ($1, $2::jsonb)", str(row_id), body
            )


async def _broker_rates(bootstrap: str, seconds: float) -> tuple[float, float]:
    topic = f"jiesu.bench.raw.{os.getpid()}.{int(time.time())}"
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    await ensure_topics(settings, [topic])
    value = json.dumps(PAYLOAD, ensure_ascii=False).encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    sent = 0
    try:
        stop_at = time.perf_counter() + seconds
        started = time.perf_counter()
        in_flight: list[asyncio.Future[Any]] = []
        while time.perf_counter() < stop_at:
            in_flight.append(await producer.send(topic, value=value, key=uuid.uuid4().bytes))
            if len(in_flight) >= 1000:
                await asyncio.gather(*in_flight)
                sent += len(in_flight)
                in_flight = []
        await asyncio.gather(*in_flight)
        sent += len(in_flight)
        produce = sent / (time.perf_counter() - started)
    finally:
        await producer.stop()
    consume = await _consume_all(bootstrap, topic, sent)
    return produce, consume


async def _consume_all(bootstrap: str, topic: str, expected: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # no public refresh
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got = 0
        started = time.perf_counter()
        deadline = started + 120
        while got < expected and time.perf_counter() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            got += sum(len(records) for records in batches.values())
        return got / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def _pipeline_rate(pool: asyncpg.Pool, bootstrap: str, seconds: float) -> float:
    """Writers commit row + outbox; a relay publishes; a consumer writes each event once."""
    topic = f"jiesu.bench.pipe.{os.getpid()}.{int(time.time())}"
    await ensure_topics(KafkaSettings(bootstrap_servers=bootstrap), [topic])
    body = json.dumps(PAYLOAD, ensure_ascii=False)
    written = 0
    writing = True
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-pipe-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await producer.start()
    await consumer.start()

    async def writer() -> None:
        nonlocal written
        async with pool.acquire() as conn:
            while writing:
                await _commit_row(conn, body, with_outbox=True)
                written += 1

    async def relay() -> None:
        async with pool.acquire() as conn:
            while True:
                async with conn.transaction():
                    rows = await conn.fetch(
                        "SELECT id, key, payload FROM raw_outbox ORDER BY id LIMIT 500 "
                        "FOR UPDATE SKIP LOCKED"
                    )
                    if rows:
                        futures = [
                            await producer.send(
                                topic, value=r["payload"].encode(), key=r["key"].encode()
                            )
                            for r in rows
                        ]
                        await asyncio.gather(*futures)
                        await conn.execute(
                            "DELETE FROM raw_outbox WHERE id = ANY($1::bigint[])",
                            [r["id"] for r in rows],
                        )
                if not rows:
                    await asyncio.sleep(0.005)

    async def sink() -> None:
        async with pool.acquire() as conn:
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=1000)
                records = [r for rs in batches.values() for r in rs]
                if not records:
                    continue
                async with conn.transaction():
                    await conn.executemany(
                        "INSERT INTO raw_sink (event_id, body) VALUES ($1, $2::jsonb) "
                        "ON CONFLICT DO NOTHING",
                        [(uuid.UUID(r.key.decode()), r.value.decode()) for r in records],
                    )
                await consumer.commit()

    started = time.perf_counter()
    workers = [asyncio.create_task(writer()) for _ in range(WORKERS - 2)]
    background = [asyncio.create_task(relay()), asyncio.create_task(sink())]
    try:
        await asyncio.sleep(seconds)
        writing = False
        await asyncio.gather(*workers)
        deadline = time.perf_counter() + 60
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                if await conn.fetchval("SELECT count(*) FROM raw_sink") >= written:
                    break
                await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await consumer.stop()
        await producer.stop()
    return written / elapsed
