"""The process context of a service: engine, producer, relay, consumers, and their lifecycle.

Built at start-up by each service's factory (never at import time). The HTTP app and the
worker use the same context, so routes and consumers call the same service layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from jiesu_common.db.engine import create_engine, session_factory
from jiesu_common.db.migrations import head_revision, is_migrated
from jiesu_common.db.uow import UnitOfWork
from jiesu_common.messaging.consumer import ConsumerRunner, Handler
from jiesu_common.messaging.guard import BrokerGuard
from jiesu_common.messaging.kafka import dlq_topic, new_producer
from jiesu_common.messaging.outbox import prune_published
from jiesu_common.messaging.relay import OutboxRelay
from jiesu_common.settings import ServiceSettings

log = logging.getLogger(__name__)


class SchemaNotMigrated(RuntimeError):
    """The database is not at the migration head: the service refuses to serve."""


@dataclass(frozen=True)
class ConsumerSpec:
    """One consumer group: the topics it reads and its event type → handler table."""

    group_id: str
    topics: Sequence[str]
    handlers: Mapping[str, Handler]
    # False for a projection nobody waits on within a second (a status view, scorecards,
    # pending reviews): it asks the broker to hold its fetches longer while events flow.
    on_critical_path: bool = True
    # True for a group nobody waits on at all (scorecards, the callback desk's pending list,
    # model announcements): it asks the broker to hold its fetches as long as an idle
    # consumer does, even while events flow (their batches just grow).
    background: bool = False
    # Topics among ``topics`` that a critical group reads in one fetch a window while
    # events flow (``kafka.slow_topics_window_ms``): events on them it rarely acts on, or
    # acts on without anyone waiting within the window, then do not wake its short fetches.
    slow_topics: Sequence[str] = ()
    # Names the dead-letter topics when the group id is one per replica (a broadcast to
    # every replica), so the replicas share one declared DLQ topic per topic.
    dlq_group: str | None = None

    @property
    def dlq_name(self) -> str:
        """The group name in this spec's dead-letter topics."""
        return self.dlq_group or self.group_id


@dataclass(frozen=True)
class PeriodicTask:
    """A job run every ``interval_s`` in worker processes (clock ticks, fallbacks).

    Jobs must be safe in several replicas at once (claim rows with ``SKIP LOCKED``). With
    ``after_catch_up`` the job first waits until the consumers have handled everything
    that was already in the log at start, so a restart never acts on stale state.
    """

    name: str
    interval_s: float
    run: Callable[[ServiceContext], Awaitable[object]]
    after_catch_up: bool = True


class Daemon(Protocol):
    """A long-running job of the service's own (a delivery worker, say): started with the
    background tasks, and asked to ``stop`` cleanly before the pool closes."""

    name: str

    async def run(self) -> None:
        """Work until stopped."""

    async def stop(self) -> None:
        """Finish or hand back what is in flight; ``run`` then returns."""


@dataclass
class ServiceContext:
    """Everything a running service holds; one per process."""

    settings: ServiceSettings
    migrations_dir: Path
    produces: Sequence[str]
    consumers: Sequence[ConsumerSpec] = ()
    uow_class: Callable[[async_sessionmaker[AsyncSession]], UnitOfWork] = UnitOfWork
    # Runs after the schema check and before consumers start (e.g. loading reference data).
    on_start: Callable[[ServiceContext], Awaitable[None]] | None = None
    periodic: Sequence[PeriodicTask] = ()
    # Added by the service's factory once the engine exists; run in serve and worker alike.
    daemons: list[Daemon] = field(default_factory=list)
    engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    producer: AIOKafkaProducer | None = field(init=False, default=None)
    relay: OutboxRelay | None = field(init=False, default=None)
    guard: BrokerGuard | None = field(init=False, default=None)
    runners: list[ConsumerRunner] = field(init=False, default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.engine = create_engine(self.settings.database)
        self.sessions = session_factory(self.engine)

    def uow(self) -> UnitOfWork:
        """A fresh unit of work on this service's database."""
        return self.uow_class(self.sessions)

    async def start(self, *, background: bool = True) -> None:
        """Check the schema, then start the broker guard, producer, relay and consumers.

        Nothing here waits for the broker: the guard verifies it in the background and
        the relay and consumers begin once it has, so the HTTP API (and ``/healthz``)
        serve even while the broker is away.
        """
        if self.settings.require_migrated and not await is_migrated(
            self.engine, self.migrations_dir
        ):
            raise SchemaNotMigrated(
                f"database is not at migration head {head_revision(self.migrations_dir)}; "
                f"run `python -m jiesu_{self.settings.service_name} migrate` first"
            )
        if not background:
            return
        if self.on_start is not None:
            await self.on_start(self)
        kafka = self.settings.kafka
        name = self.settings.service_name
        self.guard = BrokerGuard(
            settings=kafka,
            engine=self.engine,
            client_id=name,
            topics=self._all_topics() if kafka.create_topics else (),
            produces=self.produces,
        )
        self.producer = new_producer(kafka, name)
        self._spawn(self._start_producer, "producer")
        self._spawn(self.guard.run, "broker-guard")
        if self.settings.outbox.enabled:
            self.relay = OutboxRelay(
                engine=self.engine,
                producer=self.producer,
                guard=self.guard,
                batch_size=self.settings.outbox.batch_size,
                poll_interval_s=self.settings.outbox.poll_interval_s,
            )
            self.guard.relay = self.relay
            self._spawn(self.relay.run, "outbox-relay")
        self._spawn(self._sweep, "retention-sweeper")
        for daemon in self.daemons:
            self._spawn(daemon.run, daemon.name)
        if self.settings.run_consumers:
            for spec in self.consumers:
                runner = ConsumerRunner(
                    settings=kafka,
                    group_id=spec.group_id,
                    topics=spec.topics,
                    handlers=spec.handlers,
                    uow_factory=self.uow,
                    producer=self.producer,
                    client_id=f"{name}-{spec.group_id}",
                    guard=self.guard,
                    on_critical_path=spec.on_critical_path,
                    background=spec.background,
                    slow_topics=spec.slow_topics,
                    dlq_group=spec.dlq_group,
                )
                self.runners.append(runner)
                self.guard.on_verified.append(runner.refresh)
                self._spawn(runner.run, f"consumer-{spec.group_id}")
            for task in self.periodic:
                self._spawn(functools.partial(self._every, task), f"periodic-{task.name}")

    async def _start_producer(self) -> None:
        assert self.producer is not None and self.guard is not None
        await self.guard.wait_verified()
        await self.producer.start()

    async def caught_up(self) -> None:
        """Wait until every consumer group has handled the log as it stood at start."""
        for runner in self.runners:
            await runner.caught_up.wait()

    async def _every(self, task: PeriodicTask) -> None:
        if task.after_catch_up:
            await self.caught_up()
        while True:
            await task.run(self)
            await asyncio.sleep(task.interval_s)

    async def stop(self) -> None:
        """Stop daemons and consumers, drain the outbox, stop the producer, close the pool."""
        for daemon in self.daemons:
            with contextlib.suppress(Exception):
                await daemon.stop()
        for runner in self.runners:
            await runner.stop()
        if self.guard is not None:
            await self.guard.stop()
        consumer_tasks = [t for t in self._tasks if t.get_name().startswith("consumer-")]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*consumer_tasks, return_exceptions=True), 15)
        if self.relay is not None:
            await self.relay.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.producer.stop(), 10)
        await self.engine.dispose()

    async def readiness(self) -> dict[str, bool]:
        """Database reachable and migrated, broker verified, consumer groups joined."""
        checks = {"database": False, "schema": False, "broker": False, "consumers": False}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = True
            checks["schema"] = await is_migrated(self.engine, self.migrations_dir)
        except Exception:
            log.warning("readiness: database check failed", exc_info=True)
        checks["broker"] = self.guard is not None and self.guard.verified
        # Serving before the consumer groups are joined would leave work waiting unseen.
        checks["consumers"] = all(r.joined.is_set() for r in self.runners)
        return checks

    def lifespan(
        self, on_stop: Callable[[], Awaitable[None]] | None = None
    ) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
        """A FastAPI lifespan that starts and stops this context with the app."""

        @contextlib.asynccontextmanager
        async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                if on_stop is not None:
                    await on_stop()
                await self.stop()

        return _lifespan

    async def sweep_inbox_once(self) -> int:
        """Forget consumed event ids older than the retention; returns how many."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                text("DELETE FROM inbox WHERE processed_at < now() - make_interval(days => :d)"),
                {"d": self.settings.inbox.retention_days},
            )
        return int(result.rowcount or 0)

    async def prune_outbox_once(self) -> int:
        """Delete published outbox rows past the retention, in batches; returns how many."""
        outbox = self.settings.outbox
        cutoff = datetime.now(UTC) - timedelta(days=outbox.retention_days)
        return await prune_published(self.engine, cutoff, outbox.prune_batch_size)

    async def _sweep(self) -> None:
        inbox_due = outbox_due = 0.0
        while True:
            now = time.monotonic()
            if self.consumers and now >= inbox_due:
                inbox_due = now + self.settings.inbox.sweep_interval_s
                if removed := await self.sweep_inbox_once():
                    log.info("inbox sweep removed %d ids", removed)
            if now >= outbox_due:
                outbox_due = now + self.settings.outbox.prune_interval_s
                if removed := await self.prune_outbox_once():
                    log.info("outbox pruned %d published rows past the retention", removed)
            await asyncio.sleep(max(0.0, min(inbox_due, outbox_due) - time.monotonic()))

    def _all_topics(self) -> list[str]:
        topics = set(self.produces)
        for spec in self.consumers:
            topics.update(spec.topics)
            topics.update(dlq_topic(t, spec.dlq_name) for t in spec.topics)
        return sorted(topics)

    def _spawn(self, run: Callable[[], Awaitable[None]], name: str) -> None:
        self._tasks.append(asyncio.create_task(_supervise(run, name, self), name=name))

    @property
    def stopping(self) -> bool:
        """True once ``stop`` began."""
        return any(r.stopping for r in self.runners) or (
            self.relay is not None and self.relay.stopping
        )


async def _supervise(run: Callable[[], Awaitable[None]], name: str, ctx: ServiceContext) -> None:
    """Restart a background loop that crashed (broker away, say), with capped backoff."""
    backoff = 0.5
    while True:
        try:
            await run()
            return
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if ctx.stopping or task is None or task.cancelling():
                raise
            # A library re-raised a cancellation of its own (aiokafka's stop does, with the
            # broker away): not a shutdown, so the loop must not end silently.
            log.error("background task %s ended by a stray cancellation; restarting", name)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 15.0)
        except Exception:
            if ctx.stopping:
                return
            log.exception("background task %s crashed; restarting", name)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 15.0)
