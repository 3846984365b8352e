"""What the benchmark watches besides its own requests: events, consumer lag, outboxes, CPU, RSS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from jiesu_common.contracts.envelope import TOPICS
from jiesu_common.messaging.kafka import cluster_id_of, forbid_topic_auto_creation

GROUPS = (
    "intake.status-view",
    "dispatch.router",
    "department.cases",
    "review.callbacks",
    "metrics.projections",
)
# What each service's consumer group reads (for its lag).
SUBSCRIBED: dict[str, set[str]] = {
    "intake.status-view": {TOPICS[t] for t in ("dispatch", "department", "review", "sla")},
    "dispatch.router": {TOPICS["intake"], TOPICS["department"], TOPICS["review"]},
    "department.cases": {TOPICS["dispatch"], TOPICS["intake"]},
    "review.callbacks": {TOPICS["dispatch"], TOPICS["department"], TOPICS["intake"]},
    "metrics.projections": {
        TOPICS["intake"],
        TOPICS["dispatch"],
        TOPICS["department"],
        TOPICS["review"],
    },
}
WATCHED = (
    "jiesu.complaint.assigned.v1",
    "jiesu.complaint.closed.v1",
    "jiesu.complaint.reopened.v1",
)


@dataclass
class Seen:
    """Bench-clock times (``time.time()``) at which events were read off the broker."""

    assigned: dict[tuple[str, int], float] = field(default_factory=dict)
    leads: dict[tuple[str, int], str] = field(default_factory=dict)
    closed: dict[str, float] = field(default_factory=dict)
    # Distinct events per (complaint, type): a message delivered again (the same event id,
    # re-published after a broker lost it, or sent twice by a relay killed mid-batch) is
    # counted in ``redelivered``, not here.
    counts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    event_ids: set[str] = field(default_factory=set)
    redelivered: int = 0


class _StartOverOnNewCluster(ConsumerRebalanceListener):  # type: ignore[misc]
    """A broker that is a new cluster kept nothing: read what it has now from the start."""

    def __init__(self, observer: EventObserver) -> None:
        self._observer = observer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Nothing to do."""

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Seek to the beginning when the cluster id changed since the last assignment."""
        consumer = self._observer._consumer
        cluster = await cluster_id_of(consumer._client)
        known = self._observer.cluster_id
        if cluster and known and cluster != known and assigned:
            await consumer.seek_to_beginning(*assigned)
        self._observer.cluster_id = cluster or known


class EventObserver:
    """Reads dispatch's (and review's) topics from the end, noting when each event shows."""

    def __init__(self, bootstrap: str, *, until: str = "closed") -> None:
        forbid_topic_auto_creation()
        self.seen = Seen()
        self.cluster_id: str | None = None
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=f"bench-observer-{uuid.uuid4().hex[:8]}",
            enable_auto_commit=True,
            # A partition with no committed offset (a broker that came back empty, or a
            # topic recreated after it) is read from its start: with "latest" the events a
            # relay re-published before the observer was assigned again went unseen, and
            # the reconciliation counted them missing. The start of a run seeks to the end.
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
            # Topics a restarted broker lost come back when the services recreate them.
            metadata_max_age_ms=2000,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        # Until assigned, nobody acts on cases: nothing is closed or reopened, and the
        # review topic is left out. Each topic in a fetch costs the broker a look at its
        # partitions, charged to the platform's figure (intake's statuses still show any
        # complaint that went further than assigned).
        topics = [TOPICS["dispatch"]] + ([TOPICS["review"]] if until == "closed" else [])
        self._consumer.subscribe(topics, listener=_StartOverOnNewCluster(self))
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.on_first_assigned: Callable[[str, str], None] | None = None
        self.on_event: Callable[[str], None] | None = None

    async def start(self) -> None:
        """Join, and wait until the partitions are assigned (so nothing is missed after)."""
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        deadline = time.monotonic() + 30
        while not self._consumer.assignment() and time.monotonic() < deadline:  # noqa: ASYNC110 - aiokafka has no "assigned" event
            await asyncio.sleep(0.1)
        assigned = self._consumer.assignment()
        if assigned:
            # From now on: what earlier runs left on the topics is not this run's.
            await self._consumer.seek_to_end(*assigned)
        for tp in assigned:
            await self._consumer.position(tp)  # resolves the end now, not at first fetch
        self.ready.set()

    async def _run(self) -> None:
        last = time.monotonic()
        while True:
            with contextlib.suppress(KafkaError):
                batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
                now = time.time()
                for records in batches.values():
                    for record in records:
                        self._note(json.loads(record.value), now)
                if batches:
                    last = time.monotonic()
                # Latencies are read off the events' own times, so the observer need not
                # fetch often: each fetch costs the broker as much as a service's (about
                # 0.4 ms plus 0.5 ms per topic), and at 20 ms this process alone was a
                # quarter of the broker's CPU under load. Long waits once quiet.
                quiet = time.monotonic() - last > 5.0
                self._consumer._fetcher._fetch_max_wait_ms = 500 if quiet else 50

    def _note(self, event: dict[str, Any], received: float) -> None:
        kind = event.get("type")
        if kind not in WATCHED:
            return
        now = event_time(event, received)
        complaint = str(event.get("subject"))
        if self.on_event is not None:
            self.on_event(complaint)
        event_id = str(event.get("id"))
        if event_id in self.seen.event_ids:
            self.seen.redelivered += 1
            return
        self.seen.event_ids.add(event_id)
        data = event.get("data") or {}
        self.seen.counts[(complaint, kind)] += 1
        if kind == "jiesu.complaint.assigned.v1":
            key = (complaint, int(data.get("round", 1)))
            first = key not in self.seen.assigned
            self.seen.assigned.setdefault(key, now)
            self.seen.leads[key] = data.get("lead_unit_id", "")
            if first and key[1] == 1 and self.on_first_assigned is not None:
                self.on_first_assigned(complaint, self.seen.leads[key])
        elif kind == "jiesu.complaint.closed.v1":
            self.seen.closed.setdefault(complaint, now)

    async def stop(self) -> None:
        """Leave."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._consumer.stop()


def event_time(event: dict[str, Any], received: float) -> float:
    """When the service decided what the event says (its ``time``), as a Unix timestamp.

    The services and the bench share this machine's clock; an event without a readable
    time counts from when the bench received it.
    """
    try:
        return datetime.fromisoformat(str(event["time"])).timestamp()
    except (KeyError, ValueError):
        return received


class Sampler:
    """Once a second: consumer lag per group, outbox rows per service, CPU % and RSS per process."""

    def __init__(
        self,
        *,
        bootstrap: str,
        databases: dict[str, str],
        pids: Callable[[], dict[str, list[int]]],
        interval_s: float = 1.0,
    ) -> None:
        self._bootstrap = bootstrap
        self._databases = databases
        self._pids = pids
        self._interval = interval_s
        self.series: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._pools: dict[str, asyncpg.Pool] = {}
        self._procs: dict[str, list[psutil.Process]] = {}
        self._known: dict[int, psutil.Process] = {}
        # Off while the idle phase is measured: asking the broker and the databases for lag
        # and outboxes every second would be most of what the idle platform does.
        self.watch_backlog = True
        self._groups: dict[str, AIOKafkaConsumer] = {}
        self._children: dict[str, dict[int, psutil.Process]] = {}
        self._subscribed = SUBSCRIBED
        self._ends: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Connect to every database and the broker; start sampling."""
        for name, dsn in self._databases.items():
            self._pools[name] = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        for group in GROUPS:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap, group_id=group, enable_auto_commit=False
            )
            await consumer.start()
            self._groups[group] = consumer
        self._ends = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await self._ends.start()
        self._refresh_processes()
        self._task = asyncio.create_task(self._run())

    def _refresh_processes(self) -> None:
        """Follow restarts: a process that was killed and started again has a new pid."""
        for name, pids in self._pids().items():
            procs = []
            for pid in pids:
                proc = self._known.get(pid)
                if proc is None:
                    with contextlib.suppress(psutil.Error):
                        proc = psutil.Process(pid)
                        proc.cpu_percent(None)  # the first call only sets the baseline
                        self._known[pid] = proc
                if proc is not None:
                    procs.append(proc)
            self._procs[name] = procs

    async def _run(self) -> None:
        started = time.time()
        while True:
            await asyncio.sleep(self._interval)
            with contextlib.suppress(Exception):
                self.series.append(await self.sample(time.time() - started))

    async def sample(self, t: float) -> dict[str, Any]:
        """One point of every series."""
        point: dict[str, Any] = {"t": round(t, 2), "outbox": {}, "lag": {}, "cpu": {}, "rss_mb": {}}
        self._refresh_processes()
        for name, pool in self._pools.items() if self.watch_backlog else ():
            with contextlib.suppress(Exception):  # PostgreSQL may be restarting (chaos)
                point["outbox"][name] = await pool.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
        if self.watch_backlog:
            with contextlib.suppress(Exception):  # the broker may be restarting (chaos)
                point["lag"] = await self._lag()
        for name, procs in self._procs.items():
            cpu = rss = 0.0
            for proc in self._family(name, procs):
                with contextlib.suppress(psutil.Error):
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
            point["cpu"][name] = round(cpu, 1)
            point["rss_mb"][name] = round(rss / 2**20, 1)
        return point

    def _family(self, name: str, procs: list[psutil.Process]) -> list[psutil.Process]:
        """The process, and for PostgreSQL its backends too (kept, so CPU % has a baseline)."""
        if name != "postgres":
            return procs
        known = self._children.setdefault(name, {})
        measurable = [p for p in known.values() if p.is_running()]
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                for child in proc.children(recursive=True):
                    if child.pid not in known:
                        # The first call only sets the baseline: measured from the next sample.
                        child.cpu_percent(None)
                        known[child.pid] = child
        self._children[name] = {pid: p for pid, p in known.items() if p.is_running()}
        return [*procs, *measurable]

    async def _lag(self) -> dict[str, int]:
        # Committed offsets are read as each group (without joining it): the admin call
        # for them is not understood by every Kafka-protocol broker (Tansu).
        assert self._ends is not None
        tps = [
            TopicPartition(t, p)
            for t in TOPICS.values()
            for p in (self._ends.partitions_for_topic(t) or ())
        ]
        if not tps:
            await self._ends._client.force_metadata_update()  # no public refresh
            return {}
        ends = await self._ends.end_offsets(tps)
        lag: dict[str, int] = {}
        for group, consumer in self._groups.items():
            read = [tp for tp in tps if tp.topic in self._subscribed.get(group, set())]
            # One OffsetFetch for all of a group's partitions: ``committed(tp)`` asks once
            # per partition, about a hundred requests a second, which cost the broker 1.8 %
            # of a core (measured alone) and were charged to the platform.
            committed = await consumer._coordinator.fetch_committed_offsets(read)
            # A partition the group never committed on (-1, or absent) lags by all of it.
            lag[group] = sum(
                max(0, ends[tp] - max(0, committed[tp].offset if tp in committed else 0))
                for tp in read
            )
        return lag

    async def stop(self) -> None:
        """Stop sampling and close connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for pool in self._pools.values():
            await pool.close()
        for consumer in self._groups.values():
            await consumer.stop()
        if self._ends is not None:
            await self._ends.stop()

    def per_process(self, complaints: int = 0) -> dict[str, dict[str, float]]:
        """Mean CPU %, CPU-ms per complaint, and peak and last RSS per process over the run."""
        out: dict[str, dict[str, float]] = {}
        span = (self.series[-1]["t"] - self.series[0]["t"] + self._interval) if self.series else 0
        for name in self._procs:
            cpus = [p["cpu"].get(name, 0.0) for p in self.series]
            rss = [p["rss_mb"].get(name, 0.0) for p in self.series]
            if not cpus:
                continue
            out[name] = {
                "cpu_mean_pct": round(sum(cpus) / len(cpus), 1),
                "cpu_peak_pct": max(cpus),
                "cpu_ms_per_complaint": round(
                    sum(cpus) / len(cpus) / 100 * span * 1000 / complaints, 1
                )
                if complaints
                else 0.0,
                "rss_first_mb": rss[0],
                "rss_peak_mb": max(rss),
                "rss_last_mb": rss[-1],
            }
        return out
