"""One change reader per process for every unit's SSE stream.

Streams used to query the database each on their own, at every wake-up and poll. Now one
reader reads the changed cases and consultations of every unit (by transaction id, below
the oldest transaction still running, so a change that commits late is never passed
over), once per wake-up, and hands each stream its unit's changes. Each read is one
statement: the snapshot's bounds and both tables' changes below its horizon, and, when
this process committed cases since the last read, the NOTIFY that wakes the other
replicas' readers. It is woken in-process by the commits here and by ``LISTEN
case_changed`` (one connection per process) for the other replicas', looks again only
until every transaction running at the wake-up has ended, keeps reads apart under load,
and polls every ``poll_s`` only while a stream is open: a lost notification delays a
change, never loses it.

A stream joins at the reader's cursor: it first reads its own unit's changes from where
its client resumes up to that cursor, then takes what the reader hands it, so nothing is
missed or sent twice. A stream whose client reads too slowly falls back to reading for
itself and joins again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from jiesu_common.db.engine import asyncpg_dsn, raw_connection
from jiesu_common.db.sql import Row
from jiesu_department.repository import CHANGES_CHANNEL

log = logging.getLogger(__name__)

Change = tuple[int, int, Any]  # (xid, kind: 0 case / 1 consultation, row)
# Changes of one unit (or all: None) in [from_xid, horizon), and the xid to read on from
# when a batch was full (None: everything was read).
ReadChanges = Callable[[str | None, int, int], Awaitable[tuple[list[Change], int | None]]]
Bounds = Callable[[], Awaitable[tuple[int, int]]]
# Every unit's changes from an xid up to the horizon of the statement's own snapshot, with
# that horizon and the snapshot's xmax: (horizon, newest, changes, resume as above). With a
# token, the same statement also notifies the other replicas (payload: the token).
ReadFeed = Callable[[int, str | None], Awaitable[tuple[int, int, list[Change], int | None]]]

RECHECK_S = 0.05
RECHECKS = 40
QUEUE_LIMIT = 5000
NOTIFY_EVERY_S = 0.02  # without a running reader, commits this close share one NOTIFY
WAKE_COALESCE_S = 0.01  # commits within this window share one read (and its NOTIFY)
READ_GAP_S = 0.025  # under load, reads (and NOTIFYs) at most this often
_FEEDS: set[CaseFeed] = set()


def cases_changed() -> bool:
    """Cases were just committed in this process: wake its reader and, by one NOTIFY shared
    with the commits around it, the other replicas'. False when no feed runs here."""
    for feed in tuple(_FEEDS):
        feed.changed()
    return bool(_FEEDS)


@dataclass(eq=False)
class Subscription:
    """One stream's place at the reader: its unit and what the reader handed it."""

    unit_id: str
    joined_at: int  # the reader's cursor when the stream joined
    queue: asyncio.Queue[Change] = field(default_factory=asyncio.Queue)
    overflowed: bool = False


_BOUNDS = (
    "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint "
    "FROM pg_current_snapshot() AS s"
)


# The reader's one statement per read: the snapshot's bounds, every unit's changed cases up
# to its horizon (one row each; one row of nulls when none) and the changed consultations
# (rare) as one JSON array beside them. Rows below the snapshot's xmin are committed and
# visible in that same snapshot, so nothing below the horizon is passed over.
@functools.lru_cache(maxsize=2)
def _feed_sql(notify: bool) -> str:
    # pg_notify in the same autocommit statement: the notify lock is held only for the
    # commit of a read, never through a case transaction's.
    notified = f"pg_notify('{CHANGES_CHANNEL}', $3::text)" if notify else "NULL::void"
    return f"""
WITH s AS MATERIALIZED (
    SELECT pg_snapshot_xmin(x)::text::bigint AS horizon,
           pg_snapshot_xmax(x)::text::bigint AS newest,
           {notified} AS notified
    FROM pg_current_snapshot() AS x
), b AS MATERIALIZED (
    SELECT s.horizon, s.newest, s.notified, (
        SELECT jsonb_agg(to_jsonb(k) ORDER BY k.xid, k.consultation_id)
        FROM (
            SELECT * FROM consultations WHERE xid >= $1 AND xid < s.horizon
            ORDER BY xid, consultation_id LIMIT $2
        ) AS k
    ) AS consultations
    FROM s
)
SELECT b.horizon AS feed_horizon, b.newest AS feed_newest, b.notified AS feed_notified,
       b.consultations AS feed_consultations, c.*
FROM b LEFT JOIN LATERAL (
    SELECT * FROM cases WHERE xid >= $1 AND xid < b.horizon ORDER BY xid, case_id LIMIT $2
) AS c ON true
"""


class JsonRow:
    """A consultation read as JSON, read as ``Row`` reads a record."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


@functools.lru_cache(maxsize=8)
def _changes_sql(table: str, key: str, one_unit: bool) -> str:
    unit = " AND unit_id = $4" if one_unit else ""
    return f"SELECT * FROM {table} WHERE xid >= $1 AND xid < $2{unit} ORDER BY xid, {key} LIMIT $3"


def database_reads(engine: AsyncEngine, limit: int) -> tuple[ReadFeed, ReadChanges, Bounds]:
    """The feed's reads, each a plain statement or two on a pooled connection (no
    transaction: the horizon bounds what is read, not a snapshot): the reader's (one
    statement), a catching-up stream's (one unit, up to a given horizon) and the bounds."""

    async def read_feed(
        from_xid: int, notify: str | None = None
    ) -> tuple[int, int, list[Change], int | None]:
        args: tuple[Any, ...] = (from_xid, limit) if notify is None else (from_xid, limit, notify)
        async with raw_connection(engine) as conn:
            records = await conn.fetch(_feed_sql(notify is not None), *args)
        first = records[0]
        consultations = first["feed_consultations"]
        if isinstance(consultations, str):
            consultations = json.loads(consultations)
        cases = [Row(r) for r in records if r["xid"] is not None]
        batches: list[list[Any]] = [cases, [JsonRow(c) for c in consultations or ()]]
        changes, resume = merge_batches(batches, from_xid, limit)
        return int(first["feed_horizon"]), int(first["feed_newest"]), changes, resume

    async def read_changes(
        unit_id: str | None, from_xid: int, horizon: int
    ) -> tuple[list[Change], int | None]:
        async with raw_connection(engine) as conn:
            batches = []
            for table, key in (("cases", "case_id"), ("consultations", "consultation_id")):
                args: list[Any] = [from_xid, horizon, limit]
                if unit_id is not None:
                    args.append(unit_id)
                sql = _changes_sql(table, key, unit_id is not None)
                batches.append([Row(r) for r in await conn.fetch(sql, *args)])
        return merge_batches(batches, from_xid, limit)

    async def bounds() -> tuple[int, int]:
        async with raw_connection(engine) as conn:
            row = await conn.fetchrow(_BOUNDS)
        return int(row[0]), int(row[1])

    return read_feed, read_changes, bounds


def merge_batches(
    batches: list[list[Any]], from_xid: int, limit: int
) -> tuple[list[Change], int | None]:
    """Cases (kind 0) and consultations (kind 1) in transaction order. When a table filled
    its batch, only changes below its last xid, with that xid to read on from (else None)."""
    full = [rows[-1].xid for rows in batches if len(rows) == limit]
    upto = min(full) if full else None
    if upto is not None and upto <= from_xid:
        upto = from_xid + 1  # one transaction filled a batch: move past it
    changes = sorted(
        [(r.xid, kind, r) for kind, rows in enumerate(batches) for r in rows],
        key=lambda change: (change[0], change[1]),
    )
    if upto is not None:
        changes = [c for c in changes if c[0] < upto]
    return changes, upto


class CaseFeed:
    """The process's change reader and the streams that follow it."""

    def __init__(
        self,
        database_url: str,
        poll_s: float,
        *,
        read_feed: ReadFeed,
        read_changes: ReadChanges,
        bounds: Bounds,
    ) -> None:
        self._url = database_url
        self.poll_s = poll_s
        self._read_feed = read_feed
        # A stream reads its own unit's changes with it while it catches up.
        self.read_changes = read_changes
        self._bounds = bounds
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._cursor: int | None = None
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._token = uuid.uuid4().hex  # our own notifications wake us in-process already
        self._notify_pending = False
        _FEEDS.add(self)

    @contextlib.asynccontextmanager
    async def subscribe(self, unit_id: str) -> AsyncIterator[Subscription]:
        """Follow the reader for one unit, for as long as the block runs."""
        await self._ensure_running()
        assert self._cursor is not None
        # No await between reading the cursor and registering: the reader hands this
        # subscription every change from exactly that cursor on.
        sub = Subscription(unit_id, self._cursor)
        self._subscribers[unit_id].add(sub)
        try:
            yield sub
        finally:
            self._subscribers[unit_id].discard(sub)
            if not self._subscribers[unit_id]:
                del self._subscribers[unit_id]

    async def _ensure_running(self) -> None:
        async with self._lock:
            if self._cursor is None:
                self._cursor = (await self._bounds())[0]
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._run(), name="case-feed")
            await self._ensure_listening()

    async def _ensure_listening(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(asyncpg_dsn(self._url))
            await self._listener.add_listener(CHANGES_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError):
            log.warning("LISTEN unavailable; case streams poll", exc_info=True)
            self._listener = None

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload != self._token:
            self._wake.set()

    def changed(self) -> None:
        """Cases changed in this process (see ``cases_changed``): the reader's next read
        notifies the other replicas too; without a reader, a NOTIFY of its own does."""
        self._wake.set()
        if not self._notify_pending:
            self._notify_pending = True
            if self._reader is None or self._reader.done():
                asyncio.get_running_loop().create_task(self._notify_others())

    async def _notify_others(self) -> None:
        await asyncio.sleep(NOTIFY_EVERY_S)
        if not self._notify_pending:
            return  # a read that started meanwhile carried it
        self._notify_pending = False
        try:
            async with self._lock:
                await self._ensure_listening()
                if self._listener is not None:
                    await self._listener.execute(
                        f"SELECT pg_notify('{CHANGES_CHANNEL}', '{self._token}')"
                    )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("case change NOTIFY failed; other replicas' streams poll", exc_info=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        rechecks, target, woken = 0, 0, False
        while True:
            try:
                horizon, newest = await self._read_once()
            except Exception:
                log.warning("case feed read failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    async with self._lock:
                        await self._ensure_listening()
                continue
            if woken:
                # Whatever committed before the wake-up has an xid below this read's xmax.
                rechecks, target, woken = RECHECKS, newest, False
            if horizon < target and rechecks:
                # Such a change is visible to the reader only once every transaction
                # running at the wake-up has ended (the notifier's among them): look
                # again, briefly.
                rechecks -= 1
                await asyncio.sleep(RECHECK_S)
                continue
            last_read = loop.time()
            woken = await self._sleep()
            if woken:
                # Commits close together share a read; under load, reads keep a gap.
                gap = max(WAKE_COALESCE_S, last_read + READ_GAP_S - loop.time())
                await asyncio.sleep(gap)

    async def _sleep(self) -> bool:
        """Until woken (True), or the poll interval passed with streams open (False)."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            except TimeoutError:
                if self._subscribers:
                    return False
                continue
            self._wake.clear()
            return True

    async def _read_once(self) -> tuple[int, int]:
        """Read every unit's changes since the cursor and hand them out; returns the bounds
        of the last read (a full batch reads on, each read up to its own horizon)."""
        assert self._cursor is not None
        while True:
            notify = self._token if self._notify_pending else None
            self._notify_pending = False
            try:
                horizon, newest, changes, resume = await self._read_feed(self._cursor, notify)
            except BaseException:
                self._notify_pending = self._notify_pending or notify is not None
                raise
            for change in changes:
                self._hand_out(change)
            if resume is None:
                self._cursor = max(self._cursor, horizon)
                return horizon, newest
            self._cursor = resume

    def _hand_out(self, change: Change) -> None:
        unit_id = change[2].unit_id
        for sub in list(self._subscribers.get(unit_id, ())):
            if change[0] < sub.joined_at:
                continue
            if sub.queue.qsize() >= QUEUE_LIMIT:
                sub.overflowed = True  # the stream reads for itself and joins again
                self._subscribers[unit_id].discard(sub)
                continue
            sub.queue.put_nowait(change)

    async def close(self) -> None:
        """Stop the reader and drop the LISTEN connection."""
        _FEEDS.discard(self)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None
