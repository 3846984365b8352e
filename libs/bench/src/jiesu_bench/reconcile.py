"""After every run: every complaint filed is in exactly one final state, nothing lost or doubled.

Read straight from each service's own database and from what the bench saw on the broker,
against the bench's own ledger of what it asked for.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from jiesu_bench.actors import Ledger
from jiesu_bench.observe import Seen
from jiesu_bench.workload import expected_reviews, expected_rounds

FINAL = "closed"
# Rows per complaint each store must hold: (service, table, condition, expected, problem).
PER_COMPLAINT_COUNTS = (
    ("dispatch", "assignments", "", "rounds", "rounds ≠ plan"),
    ("department", "cases", " AND role = 'lead'", "rounds", "lead cases ≠ rounds"),
    ("review", "reviews", " AND status = 'completed'", "reviews", "completed reviews ≠ plan"),
)


async def reconcile(
    *,
    databases: Mapping[str, str],
    bootstrap: str,
    ledger: Ledger,
    seen: Seen,
    dead_before: Mapping[str, int],
) -> dict[str, Any]:
    """Compare every store with the ledger; ``ok`` is True only when nothing differs."""
    ids = [uuid.UUID(cid) for cid in ledger.filed]
    want_rounds = {cid: expected_rounds(f.plan) for cid, f in ledger.filed.items()}
    want_reviews = {cid: expected_reviews(f.plan) for cid, f in ledger.filed.items()}
    problems: list[str] = []

    statuses = await _rows(
        databases["intake"],
        "SELECT id::text AS k, status AS v FROM complaints WHERE id = ANY($1)",
        ids,
    )
    final = Counter(statuses.values())
    missing = [cid for cid in ledger.filed if cid not in statuses]
    _diff(problems, "intake: complaint missing", missing)
    _diff(problems, "intake: not closed", [c for c, s in statuses.items() if s != FINAL])

    want = {"rounds": want_rounds, "reviews": want_reviews}
    counted: dict[str, dict[str, Any]] = {}
    for service, table, condition, wanted, what in PER_COMPLAINT_COUNTS:
        counted[service] = await _rows(
            databases[service],
            f"SELECT complaint_id::text AS k, count(*) AS v FROM {table} "
            f"WHERE complaint_id = ANY($1){condition} GROUP BY complaint_id",
            ids,
        )
        _diff(problems, f"{service}: {what}", _mismatch(counted[service], want[wanted]))
    facts = await _rows(
        databases["metrics"],
        "SELECT complaint_id::text AS k, 1 AS v FROM complaint_facts WHERE complaint_id = ANY($1)",
        ids,
    )
    _diff(problems, "metrics: complaint fact missing", [c for c in ledger.filed if c not in facts])

    closed_events = {c: seen.counts.get((c, "jiesu.complaint.closed.v1"), 0) for c in ledger.filed}
    _diff(
        problems,
        "broker: complaint.closed not exactly once",
        [c for c, n in closed_events.items() if n != 1],
    )
    assigned_events = {
        c: seen.counts.get((c, "jiesu.complaint.assigned.v1"), 0) for c in ledger.filed
    }
    _diff(problems, "broker: complaint.assigned ≠ rounds", _mismatch(assigned_events, want_rounds))

    outboxes = {}
    for name, dsn in databases.items():
        conn = await asyncpg.connect(dsn)
        try:
            outboxes[name] = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL"
            )
        finally:
            await conn.close()
    for name, count in outboxes.items():
        if count:
            problems.append(f"{name}: {count} outbox row(s) never published")
    dead = {
        topic: count - dead_before.get(topic, 0)
        for topic, count in (await dead_letters(bootstrap)).items()
    }
    for topic, count in dead.items():
        if count:
            problems.append(f"{topic}: {count} dead-lettered message(s)")
    return {
        "ok": not problems,
        "complaints": len(ledger.filed),
        "final_states": dict(final),
        "plans": dict(Counter(f.plan for f in ledger.filed.values())),
        "rounds": sum(counted["dispatch"].values()),
        "reviews_completed": sum(counted["review"].values()),
        "outbox_rows": outboxes,
        "dead_letters": dead,
        "problems": problems,
    }


async def _rows(dsn: str, sql: str, ids: list[uuid.UUID]) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["k"]: r["v"] for r in await conn.fetch(sql, ids)}
    finally:
        await conn.close()


def _mismatch(have: Mapping[str, int], want: Mapping[str, int]) -> list[str]:
    return [f"{c} ({have.get(c, 0)}≠{n})" for c, n in want.items() if have.get(c, 0) != n]


def _diff(problems: list[str], what: str, items: list[str]) -> None:
    if items:
        problems.append(f"{what}: {len(items)} e.g. {', '.join(items[:3])}")


async def dead_letters(bootstrap: str) -> dict[str, int]:
    """Messages held in every dead-letter topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if ".dlq." in t]
    finally:
        await admin.close()
    if not topics:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # no public refresh
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    out: dict[str, int] = {}
    for tp in tps:
        out[tp.topic] = out.get(tp.topic, 0) + ends[tp] - starts[tp]
    return out
