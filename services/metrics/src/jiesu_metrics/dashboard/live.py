"""The supervisors' live feed: new filings, closures, breaches and escalations.

One reader per process polls the projections (indexed by time) while anybody listens and
fans what is new out to every open stream, so a hundred open dashboards cost one query a
second, not a hundred. Times are the events' own, which a projection may commit a little
later than a newer one: the reader looks back ``overlap`` each time and remembers what it
has sent, so late commits inside that span are not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

FEED_SQL = """
    SELECT 'filed' AS kind, f.complaint_id, f.ticket_no, f.received_at AS at,
           NULL AS unit_id, NULL AS clock, NULL AS level
    FROM complaint_facts f WHERE f.received_at > :since
    UNION ALL
    SELECT 'closed', f.complaint_id, f.ticket_no, f.closed_at, NULL, NULL, NULL
    FROM complaint_facts f WHERE f.closed_at > :since
    UNION ALL
    SELECT CASE WHEN c.level = 'reminder' THEN 'breached' ELSE 'escalated' END,
           c.complaint_id, f.ticket_no, c.level_at, c.unit_id, c.clock, c.level
    FROM clocks c JOIN complaint_facts f ON f.complaint_id = c.complaint_id
    WHERE c.level_at > :since
    ORDER BY 4 LIMIT 1000"""

Fetch = Callable[[str, dict[str, Any]], Awaitable[list[Any]]]


class LiveFeed:
    """Polls while there are subscribers; each gets every new item once."""

    def __init__(self, fetch: Fetch, *, poll_s: float = 1.0, overlap_s: float = 120.0) -> None:
        self._fetch = fetch
        self.poll_s = poll_s
        self.overlap = timedelta(seconds=overlap_s)
        self._queues: set[asyncio.Queue[dict[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None
        self._sent: dict[tuple[str, str, str], datetime] = {}

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A queue of new items for as long as the block runs."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._queues.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def _run(self) -> None:
        # Start from now: a new reader does not replay what happened before anybody looked.
        start = datetime.now(UTC)
        while self._queues:
            try:
                await self.poll(start)
            except Exception:  # the database may be away a moment; the next poll retries
                log.warning("live feed poll failed", exc_info=True)
            await asyncio.sleep(self.poll_s)
        self._sent.clear()

    async def poll(self, start: datetime) -> list[dict[str, Any]]:
        """Read what is new since the look-back and hand it to every subscriber."""
        now = datetime.now(UTC)
        since = max(start, now - self.overlap)
        rows = await self._fetch(FEED_SQL, {"since": since})
        fresh = []
        for row in rows:
            key = (row.kind, str(row.complaint_id), f"{row.unit_id}:{row.clock}:{row.level}")
            if key in self._sent:
                continue
            self._sent[key] = row.at
            fresh.append(
                {
                    "kind": row.kind,
                    "complaint_id": str(row.complaint_id),
                    "ticket_no": row.ticket_no,
                    "at": row.at.isoformat(),
                    "unit_id": row.unit_id,
                    "clock": row.clock,
                    "level": row.level,
                }
            )
        self._sent = {k: at for k, at in self._sent.items() if at > since}
        for queue in list(self._queues):
            for item in fresh:
                with contextlib.suppress(asyncio.QueueFull):  # a stuck client misses items
                    queue.put_nowait(item)
        return fresh
