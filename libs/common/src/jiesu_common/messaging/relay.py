"""The outbox relay: publishes committed outbox rows, in order per key, then deletes them.

Claims rows with ``FOR UPDATE SKIP LOCKED`` so several replicas can run; a row whose
key has an earlier row held by another replica waits, which keeps per-complaint order.
Rows are found by presence, not by a high-water mark, so a transaction that commits
out of sequence order is never skipped. Woken in-process right after a local commit of
outbox rows; polling covers rows another process left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from jiesu_common.messaging.tables import register_local_waker
from jiesu_common.observability import OUTBOX_PUBLISHED

log = logging.getLogger(__name__)

_CLAIM = text(
    "SELECT id, topic, key, payload FROM outbox ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_HELD_ELSEWHERE = text(
    "SELECT key, min(id) AS first_id FROM outbox "
    "WHERE key = ANY(:keys) AND NOT (id = ANY(:ids)) GROUP BY key"
)
_DELETE = text("DELETE FROM outbox WHERE id = ANY(:ids)")


@dataclass
class _Row:
    id: int
    topic: str
    key: str
    payload: dict[str, Any]


class OutboxRelay:
    """Moves outbox rows to the broker; safe to run in several processes at once."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        batch_size: int = 200,
        poll_interval_s: float = 1.0,
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._unregister: Callable[[], None] | None = None

    async def run(self) -> None:
        """Publish until stopped; errors are logged and retried with backoff."""
        self._unregister = register_local_waker(self._wake.set)
        backoff = 0.1
        while not self._stopping:
            # Cleared before looking, never after: a wake-up that lands while a batch is in
            # flight must wake the next wait, or its row would sit until the poll interval.
            self._wake.clear()
            try:
                while await self.publish_batch():
                    pass
                backoff = 0.1
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)

    @property
    def stopping(self) -> bool:
        """True once ``stop`` began."""
        return self._stopping

    async def stop(self, *, drain_timeout_s: float = 10.0) -> None:
        """Stop after draining what is committed (bounded in time)."""
        self._stopping = True
        self._wake.set()
        deadline = time.monotonic() + drain_timeout_s
        with contextlib.suppress(Exception):
            while time.monotonic() < deadline and await self.publish_batch():
                pass
        if self._unregister is not None:
            self._unregister()

    async def publish_batch(self) -> int:
        """Claim, publish and delete one batch; returns how many rows were published."""
        async with self._engine.begin() as conn:
            rows = [
                _Row(r.id, r.topic, r.key, r.payload)
                for r in await conn.execute(_CLAIM, {"limit": self._batch_size})
            ]
            if not rows:
                return 0
            rows = await self._drop_blocked(conn, rows)
            if not rows:
                return 0
            futures = [
                await self._producer.send(
                    row.topic,
                    value=json.dumps(row.payload, ensure_ascii=False).encode(),
                    key=row.key.encode(),
                    headers=[("content-type", b"application/cloudevents+json")],
                )
                for row in rows
            ]
            await asyncio.gather(*futures)
            await conn.execute(_DELETE, {"ids": [row.id for row in rows]})
        OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)

    async def _drop_blocked(self, conn: Any, rows: list[_Row]) -> list[_Row]:
        """Keep per-key order across replicas: skip keys with an earlier row held elsewhere."""
        held = await conn.execute(
            _HELD_ELSEWHERE,
            {"keys": sorted({r.key for r in rows}), "ids": [r.id for r in rows]},
        )
        first_elsewhere = {r.key: r.first_id for r in held}
        if not first_elsewhere:
            return rows
        return [r for r in rows if r.id < first_elsewhere.get(r.key, r.id + 1)]
