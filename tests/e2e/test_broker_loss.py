"""The broker dies and comes back empty: nothing filed is lost, nothing is applied twice.

A stack of its own (supervised, as `jiesu dev` runs it), since these tests kill the broker.
"""

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from jiesu_common.contracts import TOPICS
from jiesu_common.devstack import SERVICES, DevStack, wait_ready
from tests.e2e.conftest import free_port_base

INTAKE = next(s for s in SERVICES if s.name == "intake")
OUTAGE_LOG_BUDGET = 100 * 1024  # bytes per minute of outage, per service


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    root: Path = tmp_path_factory.mktemp("jiesu-broker-loss") / ".jiesu"
    dev = DevStack(root, port_base=free_port_base())
    try:
        dev.start()
        dev.start_supervisor()
        yield dev
    finally:
        dev.stop()


@pytest.fixture
async def operator(supervised: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    tokens = json.loads((supervised.root / "dev" / "tokens.json").read_text())
    headers = {"Authorization": f"Bearer {tokens['operator']}"}
    async with httpx.AsyncClient(
        base_url=supervised.url_of(INTAKE), headers=headers, timeout=30
    ) as client:
        yield client


def _log_sizes(stack: DevStack) -> dict[str, int]:
    return {s.name: (stack.root / "logs" / f"{s.name}.log").stat().st_size for s in SERVICES}


async def _file(client: httpx.AsyncClient, n: int, tag: str) -> str:
    answer = await client.post(
        "/v1/complaints",
        json={
            "channel": "phone",
            "kind": "complaint",
            "category_code": "ROAD-DAMAGE",
            "content": f"[{tag}] 杏林路{n}号门口路面塌陷，第{n}件",
            "caller": {"phone": f"1390{abs(hash(tag)) % 10**4:04d}{n:03d}"},
            "location": {"address": f"杏林路{n}号"},
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["complaint_id"])


async def _statuses(client: httpx.AsyncClient, ids: list[str]) -> dict[str, str]:
    out = {}
    for cid in ids:
        answer = await client.get(f"/v1/complaints/{cid}")
        out[cid] = answer.json()["status"] if answer.status_code == 200 else "?"
    return out


async def _events_on_broker(bootstrap: str, topic: str, event_type: str) -> Counter[str]:
    """How many messages of ``event_type`` the broker holds per complaint (read until quiet)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: Counter[str] = Counter()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        quiet = 0
        while quiet < 3:
            batches = await consumer.getmany(timeout_ms=500)
            quiet = 0 if batches else quiet + 1
            for records in batches.values():
                for record in records:
                    event = json.loads(record.value)
                    if event["type"] == event_type:
                        seen[event["subject"]] += 1
    finally:
        await consumer.stop()
    return seen


async def test_complaints_filed_while_dispatch_is_stopped_survive_a_broker_crash(
    supervised: DevStack, operator: httpx.AsyncClient
) -> None:
    """The scenario of the issue: SIGSTOP dispatch, file 10, kill -9 the broker, SIGCONT."""
    dispatch = supervised.processes["dispatch"]
    old_broker = supervised.broker.pid
    assert old_broker is not None
    os.kill(dispatch.pid, signal.SIGSTOP)
    try:
        ids = [await _file(operator, n, "broker-loss") for n in range(10)]
        await asyncio.sleep(1.0)  # intake's relay has published them to the doomed broker
        logs_before = _log_sizes(supervised)
        killed_at = time.monotonic()
        os.kill(old_broker, signal.SIGKILL)
    finally:
        os.kill(dispatch.pid, signal.SIGCONT)

    while not (supervised.broker.running and supervised.broker.pid != old_broker):
        assert time.monotonic() - killed_at < 60, "the supervisor did not restart the broker"
        await asyncio.sleep(0.1)
    back_at = time.monotonic()
    outage_s = back_at - killed_at
    while (statuses := await _statuses(operator, ids)) and set(statuses.values()) != {"assigned"}:
        assert time.monotonic() - back_at < 30, (
            f"not all assigned 30 s after the broker: {statuses}"
        )
        await asyncio.sleep(0.5)
    print(
        f"\nbroker down {outage_s:.1f} s; all 10 assigned {time.monotonic() - back_at:.1f} s later"
    )

    dsn = supervised.postgres.url_for("jiesu_dispatch").replace("+asyncpg", "")
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT complaint_id::text AS id, count(*) AS n FROM assignments "
            "WHERE complaint_id = ANY($1::uuid[]) GROUP BY complaint_id",
            ids,
        )
    finally:
        await conn.close()
    assert {r["id"]: r["n"] for r in rows} == dict.fromkeys(ids, 1)
    bootstrap = supervised.broker.bootstrap
    received = await _events_on_broker(bootstrap, TOPICS["intake"], "jiesu.complaint.received.v1")
    assigned = await _events_on_broker(bootstrap, TOPICS["dispatch"], "jiesu.complaint.assigned.v1")
    assert {c: received[c] for c in ids} == dict.fromkeys(ids, 1)
    assert {c: assigned[c] for c in ids} == dict.fromkeys(ids, 1)

    # Every service logged the outage in a few lines, not one per retry.
    grown = {k: v - logs_before[k] for k, v in _log_sizes(supervised).items()}
    per_minute = {k: v / max(outage_s, 1.0) * 60 for k, v in grown.items()}
    assert max(per_minute.values()) < OUTAGE_LOG_BUDGET, per_minute


async def test_a_long_outage_is_summarised_and_readiness_names_the_broker(
    supervised: DevStack, operator: httpx.AsyncClient
) -> None:
    """Broker away for 40 s: /healthz stays up, /readyz names it, logs stay small, then all heals."""
    supervised.stop_supervisor()
    try:
        await asyncio.to_thread(wait_ready, supervised.url_of(INTAKE), 60)
        broker = supervised.broker.pid
        assert broker is not None
        logs_before = _log_sizes(supervised)
        os.kill(broker, signal.SIGKILL)
        started = time.monotonic()
        await asyncio.sleep(5)
        filed_meanwhile = await _file(operator, 0, "long-outage")
        ready: dict[str, Any] = {}
        async with httpx.AsyncClient(timeout=10) as client:
            # The console has no broker (nor database): its readiness is about its upstreams.
            for spec in (s for s in SERVICES if s.database):
                assert (await client.get(f"{supervised.url_of(spec)}/healthz")).status_code == 200
                answer = await client.get(f"{supervised.url_of(spec)}/readyz")
                assert answer.status_code == 503
                ready[spec.name] = answer.json()["missing"]
        assert all(missing == ["broker"] for missing in ready.values()), ready
        await asyncio.sleep(40 - (time.monotonic() - started))
        outage_s = time.monotonic() - started
        grown = {k: v - logs_before[k] for k, v in _log_sizes(supervised).items()}
    finally:
        supervised.restart("broker")
        supervised.start_supervisor()
    per_minute = {k: round(v / outage_s * 60) for k, v in grown.items()}
    print(f"\nlog growth over a {outage_s:.0f} s outage, bytes per minute: {per_minute}")
    assert max(per_minute.values()) < OUTAGE_LOG_BUDGET, per_minute
    deadline = time.monotonic() + 60
    while (await _statuses(operator, [filed_meanwhile]))[filed_meanwhile] != "assigned":
        assert time.monotonic() < deadline, "the complaint filed during the outage was not assigned"
        await asyncio.sleep(0.5)
