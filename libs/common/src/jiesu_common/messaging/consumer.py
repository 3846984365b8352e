"""The consumer runner: inbox de-duplication, offsets after commit, retry, DLQ, shutdown.

For each message: parse the envelope, open a unit of work, claim the event id in the
inbox, run the handler, commit. Offsets are committed only after that, so a crash
re-delivers and the inbox turns the re-delivery into a no-op. Handler errors are retried
with backoff a bounded number of times, then the message goes to
``<topic>.dlq.<group>`` with the error in headers. Infrastructure errors (database or
broker down) are retried without bound and never send a message to the DLQ.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from jiesu_common.contracts import CloudEvent, EventPayload, parse_payload
from jiesu_common.db.uow import UnitOfWork
from jiesu_common.logging import log_context
from jiesu_common.messaging.kafka import cluster_id_of, dlq_topic, forbid_topic_auto_creation
from jiesu_common.messaging.tables import INBOX_CLAIM
from jiesu_common.observability import DLQ_SENT, EVENTS_CONSUMED
from jiesu_common.settings import KafkaSettings

if TYPE_CHECKING:
    from jiesu_common.messaging.guard import BrokerGuard

log = logging.getLogger(__name__)

Handler = Callable[[Any, CloudEvent, UnitOfWork], Awaitable[None]]
TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    OSError,
    TimeoutError,
    ConnectionError,
)


# SQLSTATEs of a database that is away, restarting or full: try again, never dead-letter.
TRANSIENT_SQLSTATES = ("57P01", "57P02", "57P03", "53300", "40001", "40P01")


def is_transient(exc: BaseException) -> bool:
    """Errors that mean "try again later", not "this message is bad"."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, TRANSIENT):
        return True
    # The driver's own error sits below SQLAlchemy's wrapper: a connection exception
    # (class 08), PostgreSQL shutting down or starting up, too many connections.
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in TRANSIENT_SQLSTATES):
            return True
        if isinstance(
            cause, asyncpg.exceptions.ConnectionDoesNotExistError | asyncpg.InterfaceError
        ):
            return True
        cause = getattr(cause, "orig", None) or cause.__cause__
    return False


class _JoinListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """On every assignment: start over if the broker is another cluster than before.

    A new cluster kept nothing of ours, and the offsets this group held in memory or
    committed there mean nothing: every partition is read again from the beginning (the
    inbox drops what was handled). A broker that lost the tail of a partition answers a
    fetch beyond its end with "offset out of range", and the group then resets to the
    earliest offset too (``auto_offset_reset="earliest"``, never "latest"). Also marks the
    runner ready once the group has handed it its partitions (maybe none).
    """

    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Commit what was handled on the partitions going away, so the next owner skips it."""
        runner, consumer = self._runner, self._runner._consumer
        flush = {tp: off for tp, off in runner._pending.items() if tp in revoked}
        for tp in revoked:
            runner._pending.pop(tp, None)
        if consumer is not None and flush:
            await runner._commit(consumer, flush)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Check the broker's identity; note how far the log reached."""
        runner, consumer = self._runner, self._runner._consumer
        ends: dict[TopicPartition, int] = {}
        if consumer is not None and assigned:
            try:
                await self._start_over_on_new_cluster(consumer, assigned)
                ends = dict(await consumer.end_offsets(list(assigned)))
            except KafkaError:
                log.warning("could not read end offsets; assuming caught up", exc_info=True)
        if not runner.caught_up.is_set():
            runner._catch_up_to = ends
        # A new assignment starts unpaused: the slow topics' window is open from now.
        runner._slow_opened_ms = int(time.time() * 1000)
        runner.joined.set()

    async def _start_over_on_new_cluster(
        self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]
    ) -> None:
        runner = self._runner
        cluster = await cluster_id_of(consumer._client)
        if cluster and runner.cluster_id and cluster != runner.cluster_id:
            log.warning(
                "group %s: the broker is a new cluster (%s → %s); reading %d partition(s) "
                "from the beginning",
                runner.group_id,
                runner.cluster_id,
                cluster,
                len(assigned),
            )
            await consumer.seek_to_beginning(*assigned)
        runner.cluster_id = cluster or runner.cluster_id


class PoisonMessage(Exception):
    """A message that can never be handled (unparseable, invalid payload)."""


class ConsumerRunner:
    """Runs one consumer group over some topics with a type → handler table."""

    def __init__(
        self,
        *,
        settings: KafkaSettings,
        group_id: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        uow_factory: Callable[[], UnitOfWork],
        producer: AIOKafkaProducer,
        client_id: str,
        guard: BrokerGuard | None = None,
        on_critical_path: bool = True,
        background: bool = False,
        slow_topics: Sequence[str] = (),
        dlq_group: str | None = None,
    ) -> None:
        self._settings = settings
        if not set(slow_topics) <= set(topics):
            raise ValueError(f"group {group_id}: slow topics {slow_topics} not among {topics}")
        # Topics read once a window while events flow (see ``_pace_slow_topics``); their
        # partitions are paused between windows. The window is open (since this wall-clock
        # millisecond) or None; it closed at ``_slow_closed_at`` (monotonic).
        self._slow_topics = frozenset(slow_topics)
        self._slow_opened_ms: int | None = int(time.time() * 1000)
        self._slow_closed_at = 0.0
        if background:
            self._busy_wait_ms = settings.fetch_max_wait_idle_ms
        elif on_critical_path:
            self._busy_wait_ms = settings.fetch_max_wait_ms
        else:
            self._busy_wait_ms = settings.fetch_max_wait_relaxed_ms
        self._guard = guard
        # The broker cluster this group last read from (a change means it kept nothing).
        self.cluster_id: str | None = None
        self.group_id = group_id
        self._dlq_group = dlq_group or group_id
        self._topics = list(topics)
        self._handlers = dict(handlers)
        self._uow_factory = uow_factory
        self._producer = producer
        self._client_id = client_id
        self._stopping = asyncio.Event()
        self.joined = asyncio.Event()
        # Set once everything that was in the log when the group was first joined is handled:
        # clocks that fire on "nothing heard by the deadline" wait for it after a restart.
        self.caught_up = asyncio.Event()
        self._catch_up_to: dict[TopicPartition, int] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        # Offsets handled (in the database) but not yet committed to the broker; they are
        # committed at most every ``commit_interval_ms``, on a rebalance and on stop.
        self._pending: dict[TopicPartition, int] = {}

    @property
    def stopping(self) -> bool:
        """True once ``stop`` was called."""
        return self._stopping.is_set()

    async def run(self) -> None:
        """Consume until ``stop``; commits offsets only after the database commit.

        Offsets are committed at most every ``commit_interval_ms``: after a crash the events
        of that last interval are read again, and the inbox drops them.
        """
        if self._guard is not None:
            # Joining an absent broker only fills the log with the client's retries.
            await self._guard.wait_verified()
        forbid_topic_auto_creation()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.bootstrap_servers,
            group_id=self.group_id,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._busy_wait_ms,
            session_timeout_ms=self._settings.session_timeout_ms,
            heartbeat_interval_ms=self._settings.heartbeat_interval_ms,
            max_poll_interval_ms=600_000,
        )
        self._consumer = consumer
        consumer.subscribe(self._topics, listener=_JoinListener(self))
        await consumer.start()
        last_record = last_commit = time.monotonic()
        interval = self._settings.commit_interval_ms / 1000
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(
                    timeout_ms=500, max_records=self._settings.poll_max_records
                )
                now = time.monotonic()
                if batches:
                    last_record = now
                self._pace_fetches(consumer, idle=now - last_record)
                if self._slow_topics:
                    self._pace_slow_topics(consumer, batches, now, idle=now - last_record)
                for tp, offset in (await self._handle_poll(consumer, batches)).items():
                    self._pending[tp] = max(offset, self._pending.get(tp, offset))
                if self._pending and now - last_commit >= interval:  # and on stop, below
                    await self._commit(consumer, dict(self._pending))  # one request for all
                    last_commit = now
                if not self.caught_up.is_set():
                    await self._check_caught_up(consumer)
        finally:
            if self._pending:
                await self._commit(consumer, dict(self._pending))
            await self._stop_client(consumer)

    async def _stop_client(self, consumer: AIOKafkaConsumer) -> None:
        """Stop the client, bounded in time, and never mistake its errors for our end.

        With the broker away, aiokafka's ``stop`` re-raises the cancellation of its own
        fetch task: let through, that ``CancelledError`` ended the supervised runner
        silently (the supervisor takes it for a shutdown), and the group stopped consuming
        for good. Only a cancellation of this task itself may end the runner.
        """
        try:
            # Bounded too: leaving the group waits on a coordinator that may be gone.
            async with asyncio.timeout(self._settings.request_timeout_ms / 1000):
                await consumer.stop()
        except TimeoutError:
            log.warning("group %s: the broker client did not stop in time", self.group_id)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            log.warning(
                "group %s: the broker client stopped with its own cancellation", self.group_id
            )

    async def _handle_poll(
        self, consumer: AIOKafkaConsumer, batches: Mapping[TopicPartition, list[ConsumerRecord]]
    ) -> dict[TopicPartition, int]:
        """Handle a poll's records; the offsets now done per partition.

        A poll's wanted events of several partitions go into one transaction when they fit
        in one (each partition's events keep their order); otherwise, or if that fails,
        partition by partition.
        """
        wanted = [r for records in batches.values() for r in records if self._wanted(r)]
        if (
            len(batches) > 1
            and len(wanted) <= max(1, self._settings.transaction_max_records)
            and await self._handle_together(wanted)
        ):
            return {tp: int(records[-1].offset) + 1 for tp, records in batches.items()}
        done: dict[TopicPartition, int] = {}
        for tp, records in batches.items():
            if (offset := await self._handle_partition(consumer, tp, records)) is not None:
                done[tp] = offset
        return done

    def _pace_fetches(self, consumer: AIOKafkaConsumer, *, idle: float) -> None:
        """Short broker waits while events flow, long ones once the topics are quiet."""
        settings = self._settings
        busy = idle < settings.fetch_idle_after_s
        wait = self._busy_wait_ms if busy else settings.fetch_max_wait_idle_ms
        consumer._fetcher._fetch_max_wait_ms = wait  # read by every fetch request it builds

    def _pace_slow_topics(
        self,
        consumer: AIOKafkaConsumer,
        batches: Mapping[TopicPartition, list[ConsumerRecord]],
        now: float,
        *,
        idle: float,
    ) -> None:
        """While events flow, read the slow topics in one fetch a window, not in every fetch.

        The broker answers a fetch as soon as any partition it names has records, and looks
        at every partition it names each time. A critical group that also reads a busy topic
        it rarely acts on (dispatch's router: units' and reviews' events; department: the
        intake's) would wake for each of that topic's events and make each of its short
        fetches dearer. So while events flow, those partitions stay paused and are opened
        every ``slow_topics_window_ms``, until a fetch has answered for all of them; a
        window that brings records stays open, so a backlog drains at once. Pausing loses
        nothing: the position stays, and records fetched but not yet returned are fetched
        again. Once quiet, every partition is in every (long) fetch, as before.
        """
        slow = [tp for tp in consumer.assignment() if tp.topic in self._slow_topics]
        if not slow:
            return
        quiet = idle >= self._settings.fetch_idle_after_s
        if self._slow_opened_ms is None:
            due = now - self._slow_closed_at >= self._settings.slow_topics_window_ms / 1000
            if quiet or due:
                consumer.resume(*slow)
                self._slow_opened_ms = int(time.time() * 1000)
            return
        if quiet or any(tp in batches for tp in slow):
            return  # quiet: always open; records came: there may be more
        opened = self._slow_opened_ms
        answered = [consumer.last_poll_timestamp(tp) for tp in slow]
        if all(at is not None and at >= opened for at in answered):
            consumer.pause(*slow)
            self._slow_opened_ms = None
            self._slow_closed_at = now

    async def stop(self) -> None:
        """Finish the message in hand, commit, leave the group."""
        self._stopping.set()

    async def refresh(self, cluster_changed: bool) -> None:
        """The broker was verified (topics recreated): look at its metadata again now."""
        if self._consumer is not None:
            self._consumer._client.force_metadata_update()  # no public refresh

    async def _check_caught_up(self, consumer: AIOKafkaConsumer) -> None:
        targets = self._catch_up_to
        if targets is None:
            return
        for tp, end in targets.items():
            if tp in consumer.assignment() and await consumer.position(tp) < end:
                return
        self.caught_up.set()

    async def _handle_partition(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: list[ConsumerRecord]
    ) -> int | None:
        """Handle a partition's records; returns the offset to commit (None: nothing new)."""
        size = max(1, self._settings.transaction_max_records)
        end = int(records[-1].offset) + 1
        # Events no handler here wants go no further than their header: no parsing, no SQL.
        if not (records := [r for r in records if self._wanted(r)]):
            return end
        for start in range(0, len(records), size):
            if self._stopping.is_set():
                return int(records[start].offset) if start else None
            chunk = records[start : start + size]
            # Even one record goes this way: its offset then joins the poll's one commit.
            if await self._handle_together(chunk):
                continue
            for n, record in enumerate(chunk):
                if self._stopping.is_set():
                    return int(record.offset) if start or n else None
                await self.handle_record(record)
                # One by one is the slow path (retries, dead letters): keep its progress.
                await self._commit(consumer, {tp: record.offset + 1})
        return end

    async def _handle_together(self, records: list[ConsumerRecord]) -> bool:
        """Handle several records in one transaction; False (nothing applied) on any error.

        One commit for a poll's worth of events saves a round trip and a flush per event.
        If anything fails, the transaction is rolled back and the caller handles the
        records one by one, with the per-message retry and dead-letter rules.
        """
        work: list[tuple[CloudEvent, EventPayload, Handler]] = []
        for record in records:
            try:
                event = _envelope(record)
                handler = self._handlers.get(event.type)
                if handler is None:
                    continue  # not this group's business
                work.append((event, _payload(event), handler))
            except PoisonMessage:
                return False
        if not work:
            return True
        try:
            async with self._uow_factory() as uow:
                conn = await uow.connection()
                claimed = {
                    row[0]
                    for row in await conn.fetch(
                        INBOX_CLAIM,
                        self.group_id,
                        [e.id for e, _, _ in work],
                        [e.type for e, _, _ in work],
                    )
                }
                outcomes = []
                for event, payload, handler in work:
                    if event.id not in claimed:
                        outcomes.append("duplicate")
                        continue
                    claimed.discard(event.id)  # the same event twice in one batch: once
                    uow.correlation_id = event.correlationid
                    uow.traceparent = event.traceparent
                    with log_context(
                        complaint_id=event.subject,
                        event_id=str(event.id),
                        correlation_id=event.correlationid,
                    ):
                        await handler(payload, event, uow)
                    outcomes.append("ok")
                await uow.commit()
        except Exception as exc:
            log.info("batch of %d failed (%r); handling one by one", len(work), exc, exc_info=False)
            return False
        for (event, _, _), outcome in zip(work, outcomes, strict=True):
            EVENTS_CONSUMED.labels(self.group_id, event.type, outcome).inc()
        return True

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            # Bounded: a client whose coordinator died with the broker can wait on it for ever.
            async with asyncio.timeout(self._settings.request_timeout_ms / 1000):
                await consumer.commit(offsets)
        except TimeoutError:
            # The offsets stay pending: the next commit (or the next owner, re-reading them
            # into the inbox) covers them.
            log.warning("group %s: offset commit timed out", self.group_id)
            return
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # A rebalance took the partition away: the next owner re-reads from the last
            # committed offset and the inbox makes the repeat harmless.
            log.warning("offset commit skipped after rebalance: %r", exc)
            return
        for tp, offset in offsets.items():
            if self._pending.get(tp, offset) <= offset:
                self._pending.pop(tp, None)

    async def handle_record(self, record: ConsumerRecord) -> None:
        """Handle one record end to end (public for tests of the retry/DLQ rules)."""
        try:
            event = _envelope(record)
            handler = self._handlers.get(event.type)
            if handler is None:
                return  # not this group's business
            payload = _payload(event)
        except PoisonMessage as exc:
            await self._dead_letter(record, exc)
            return
        with log_context(
            complaint_id=event.subject, event_id=str(event.id), correlation_id=event.correlationid
        ):
            await self._handle_with_retry(record, event, payload, handler)

    async def _handle_with_retry(
        self,
        record: ConsumerRecord,
        event: CloudEvent,
        payload: EventPayload,
        handler: Handler,
    ) -> None:
        attempt = 0
        while True:
            try:
                outcome = await self._apply(event, payload, handler)
                EVENTS_CONSUMED.labels(self.group_id, event.type, outcome).inc()
                return
            except Exception as exc:
                attempt += 1
                if is_transient(exc):
                    delay = min(self._settings.retry_backoff_ms / 1000 * 2**attempt, 10.0)
                    log.warning("transient failure, retrying", extra={"error": repr(exc)})
                    await asyncio.sleep(delay)
                    continue
                if attempt > self._settings.max_retries:
                    log.error("handler failed; sending to DLQ", exc_info=True)
                    await self._dead_letter(record, exc)
                    EVENTS_CONSUMED.labels(self.group_id, event.type, "dlq").inc()
                    return
                await asyncio.sleep(self._settings.retry_backoff_ms / 1000 * 2 ** (attempt - 1))

    async def _apply(self, event: CloudEvent, payload: EventPayload, handler: Handler) -> str:
        async with self._uow_factory() as uow:
            uow.correlation_id = event.correlationid
            uow.traceparent = event.traceparent
            outcome = await self._claim_and_run(uow, event, payload, handler)
            if outcome == "ok" and not uow.committed:
                await uow.commit()
        return outcome

    async def _claim_and_run(
        self, uow: UnitOfWork, event: CloudEvent, payload: EventPayload, handler: Handler
    ) -> str:
        """Claim the event in the inbox and run its handler; "duplicate" if already handled."""
        conn = await uow.connection()
        if not await conn.fetch(INBOX_CLAIM, self.group_id, [event.id], [event.type]):
            return "duplicate"
        await handler(payload, event, uow)
        return "ok"

    def _wanted(self, record: ConsumerRecord) -> bool:
        """False when the record's ``ce_type`` header names a type this group has no handler for."""
        for name, value in record.headers or ():
            if name == "ce_type":
                return value.decode() in self._handlers
        return True  # no header (an older or replayed message): parse it to know

    async def _dead_letter(self, record: ConsumerRecord, exc: BaseException) -> None:
        topic = dlq_topic(record.topic, self._dlq_group)
        headers = [
            *list(record.headers or ()),
            ("x-error-type", type(exc).__name__.encode()),
            ("x-error-message", str(exc)[:2000].encode()),
            ("x-error-trace", "".join(traceback.format_exception(exc))[-4000:].encode()),
            ("x-original-topic", record.topic.encode()),
            ("x-original-partition", str(record.partition).encode()),
            ("x-original-offset", str(record.offset).encode()),
            ("x-consumer-group", self.group_id.encode()),
            ("x-failed-at", datetime.now(UTC).isoformat().encode()),
        ]
        while True:
            if self._guard is not None:
                await self._guard.wait_verified()
            try:
                await self._producer.send_and_wait(
                    topic, value=record.value, key=record.key, headers=headers
                )
                DLQ_SENT.labels(topic).inc()
                return
            except KafkaError as exc:
                log.warning("DLQ produce failed; retrying: %r", exc)
                if self._guard is not None:
                    self._guard.suspect(f"dead-letter produce: {exc!r}")
                await asyncio.sleep(1.0)


def _envelope(record: ConsumerRecord) -> CloudEvent:
    try:
        return CloudEvent.from_bytes(record.value)
    except (ValidationError, ValueError, TypeError) as exc:
        raise PoisonMessage(f"not a CloudEvent: {exc}") from exc


def _payload(event: CloudEvent) -> EventPayload:
    try:
        return parse_payload(event)
    except (ValidationError, LookupError) as exc:
        raise PoisonMessage(f"invalid {event.type} payload: {exc}") from exc
