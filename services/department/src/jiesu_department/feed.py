"""Waking SSE streams when their unit's cases change (LISTEN case_changed, one per process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg

from jiesu_common.db.engine import asyncpg_dsn
from jiesu_department.repository import CHANGES_CHANNEL

log = logging.getLogger(__name__)


class CaseFeed:
    """One LISTEN connection fans notifications out to the streams of each unit.

    Streams also poll (``poll_s``), so a lost connection delays a change but never loses
    it: the stream's cursor, not the notification, decides what is sent.
    """

    def __init__(self, database_url: str, poll_s: float) -> None:
        self._url = database_url
        self.poll_s = poll_s
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def _ensure_listening(self) -> None:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return
            try:
                self._conn = await asyncpg.connect(asyncpg_dsn(self._url))
                await self._conn.add_listener(CHANGES_CHANNEL, self._on_notify)
            except (OSError, asyncpg.PostgresError):
                log.warning("LISTEN unavailable; case streams poll", exc_info=True)
                self._conn = None

    def _on_notify(self, _conn: object, _pid: int, _channel: str, unit_id: str) -> None:
        for event in self._waiters.get(unit_id, ()):
            event.set()

    @contextlib.asynccontextmanager
    async def subscribe(self, unit_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever the unit's cases change, for as long as the block runs."""
        await self._ensure_listening()
        event = asyncio.Event()
        self._waiters[unit_id].add(event)
        try:
            yield event
        finally:
            self._waiters[unit_id].discard(event)
            if not self._waiters[unit_id]:
                del self._waiters[unit_id]

    async def wait(self, event: asyncio.Event) -> bool:
        """Until woken (True), or the poll interval passed (False)."""
        try:
            await asyncio.wait_for(event.wait(), self.poll_s)
        except TimeoutError:
            return False
        event.clear()
        return True

    async def close(self) -> None:
        """Drop the LISTEN connection."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
