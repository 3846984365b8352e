"""The outbox relay: publishes committed outbox rows, in order per key, and marks them.

Claims pending rows with ``FOR UPDATE SKIP LOCKED`` so several replicas can run; a row
whose key has an earlier pending row held by another replica waits, which keeps
per-complaint order. Rows are found by presence, not by a high-water mark, so a
transaction that commits out of sequence order is never skipped. Woken in-process right
after a local commit of outbox rows; polling covers rows another process left behind.

Published rows are kept (partition, offset, time) for the retention period. Every
acknowledgement is checked against what the broker acknowledged before: an offset
below it means the broker lost data, so the batch is rolled back and the broker guard
compares and repairs before anything more is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from jiesu_common.db.engine import raw_connection
from jiesu_common.messaging.outbox import CLAIM_PENDING, Acks, record_published
from jiesu_common.messaging.tables import register_local_waker
from jiesu_common.observability import OUTBOX_PUBLISHED

if TYPE_CHECKING:
    from jiesu_common.messaging.guard import BrokerGuard

log = logging.getLogger(__name__)


@dataclass
class _Row:
    id: int
    topic: str
    key: str
    event_type: str
    payload: str  # the event as JSON text, sent as it is


class BrokerRegressed(Exception):
    """The broker acknowledged an offset below one it had acknowledged before."""


class OutboxRelay:
    """Moves outbox rows to the broker; safe to run in several processes at once."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        guard: BrokerGuard | None = None,
        batch_size: int = 200,
        poll_interval_s: float = 1.0,
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._guard = guard
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._unregister: Callable[[], None] | None = None
        # What the broker acknowledged, as far as this process knows (never above the truth).
        self.acks: Acks = {}

    def wake(self) -> None:
        """Look for pending rows now."""
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped; errors are logged and retried with backoff."""
        self._unregister = register_local_waker(self._wake.set)
        backoff = 0.1
        while not self._stopping:
            # Cleared before looking, never after: a wake-up that lands while a batch is in
            # flight must wake the next wait, or its row would sit until the poll interval.
            self._wake.clear()
            if self._guard is not None:
                await self._guard.wait_verified()
            try:
                # Again at once only after a full batch: after a short one the outbox was
                # empty when claimed, and a row committed since has set the wake-up (locally)
                # or waits for the poll (another process). No empty transaction per wake-up.
                while not self._stopping and await self._more_after_batch():
                    pass
                backoff = 0.1
            except Exception as exc:
                self._suspect(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)

    def _suspect(self, exc: Exception) -> None:
        if self._guard is not None and self._guard.is_broker_error(exc):
            # Nothing more is sent until the guard has compared the broker with the acks.
            self._guard.suspect(f"relay: {exc!r}")
            return
        log.warning("outbox relay failed; retrying: %r", exc)

    @property
    def stopping(self) -> bool:
        """True once ``stop`` began."""
        return self._stopping

    async def stop(self, *, drain_timeout_s: float = 10.0) -> None:
        """Stop after draining what is committed (bounded in time, only to a verified broker)."""
        self._stopping = True
        self._wake.set()
        deadline = time.monotonic() + drain_timeout_s
        if self._guard is None or self._guard.verified:
            with contextlib.suppress(Exception):
                while time.monotonic() < deadline and await self.publish_batch():
                    pass
        if self._unregister is not None:
            self._unregister()

    async def publish_batch(self) -> int:
        """Claim, publish and mark one batch; returns how many rows were published."""
        return (await self._batch())[0]

    async def _more_after_batch(self) -> bool:
        """One batch; True when it published a full claim, so more rows may be waiting."""
        published, claimed = await self._batch()
        return published > 0 and claimed >= self._batch_size

    async def _batch(self) -> tuple[int, int]:
        """One batch: how many rows it published and how many it claimed."""
        async with raw_connection(self._engine) as conn, conn.transaction():
            claimed = await conn.fetch(CLAIM_PENDING, self._batch_size)
            rows = _in_order(claimed)
            if not rows:
                return 0, len(claimed)
            known = dict(self.acks)
            futures = [
                await self._producer.send(
                    row.topic,
                    value=row.payload.encode(),
                    key=row.key.encode(),
                    # ce_type lets consumers skip what they have no handler for unparsed.
                    headers=[
                        ("content-type", b"application/cloudevents+json"),
                        ("ce_type", row.event_type.encode()),
                    ],
                )
                for row in rows
            ]
            sent = await asyncio.gather(*futures)
            published = [
                (row.id, row.topic, meta.partition, meta.offset)
                for row, meta in zip(rows, sent, strict=True)
            ]
            regressed = [(t, p, o) for _, t, p, o in published if o < known.get((t, p), 0)]
            if regressed:
                t, p, o = regressed[0]
                raise BrokerRegressed(
                    f"{t}[{p}] acknowledged offset {o}, below {known[(t, p)]} acknowledged before"
                )
            advanced = await record_published(conn, published)
        for key, nxt in advanced.items():
            self.acks[key] = max(self.acks.get(key, 0), nxt)
        OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows), len(claimed)


def _in_order(claimed: list[Any]) -> list[_Row]:
    """The claimed rows that may go now: none of a key after one held by another relay."""
    waiting: set[str] = set()
    rows = []
    for r in claimed:
        if r["held_elsewhere"] or r["key"] in waiting:
            waiting.add(r["key"])
            continue
        rows.append(_Row(r["id"], r["topic"], r["key"], r["event_type"], r["payload"]))
    return rows
