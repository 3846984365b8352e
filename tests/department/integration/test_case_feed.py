"""One change reader per process hands every stream its own unit's changes, on a real database."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from jiesu_common.db.engine import create_engine, session_factory
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_department import collaboration, handlers
from jiesu_department.feed import _FEEDS, CaseFeed, Change, database_reads
from jiesu_department.main import MIGRATIONS
from jiesu_department.schemas import ConsultationItem
from jiesu_department.settings import DepartmentSettings
from tests.department.integration.test_case_projection import apply
from tests.metrics.scenario import assigned, consultation_opened

pytestmark = pytest.mark.integration


@pytest.fixture
async def feed_and_sessions(new_database: DatabaseFactory) -> AsyncIterator[tuple[CaseFeed, Any]]:
    url = await new_database("feed")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    engine = create_engine(DepartmentSettings(database={"url": url}).database)
    sessions = session_factory(engine)
    reads: list[int] = []
    read_feed, read_changes, bounds = database_reads(engine, limit=3)

    async def counted(start: int, notify: str | None = None) -> Any:
        reads.append(1)
        return await read_feed(start, notify)

    feed = CaseFeed(url, poll_s=0.2, read_feed=counted, read_changes=read_changes, bounds=bounds)
    feed.reads = reads  # type: ignore[attr-defined]
    yield feed, sessions
    await feed.close()
    await engine.dispose()


async def _take(queue: asyncio.Queue[Change], n: int, timeout: float = 10) -> list[Change]:
    out = []
    for _ in range(n):
        out.append(await asyncio.wait_for(queue.get(), timeout))
    return out


async def test_each_stream_gets_its_own_units_changes_once_in_order(
    feed_and_sessions: tuple[CaseFeed, Any],
) -> None:
    feed, sessions = feed_and_sessions
    async with (
        feed.subscribe("dept-jt") as jt,
        feed.subscribe("dept-jt") as jt_again,
        feed.subscribe("gov-d01") as gov,
    ):
        # More changes than one read's batch (3): the reader reads on without gaps.
        complaints = [uuid.uuid4() for _ in range(5)]
        for n, cid in enumerate(complaints):
            await apply(sessions, handlers.open_cases, assigned(cid, 1, 1, "dept-jt", (), n))
        await apply(sessions, handlers.open_cases, assigned(uuid.uuid4(), 1, 1, "gov-d01", (), 9))
        got = await _take(jt.queue, 5)
        assert [row.complaint_id for _, _, row in got] == complaints
        assert [c[0] for c in got] == sorted(c[0] for c in got)
        assert [row.case_id for _, _, row in await _take(jt_again.queue, 5)] == [
            row.case_id for _, _, row in got
        ]
        [(_, kind, row)] = await _take(gov.queue, 1)
        assert (kind, row.unit_id) == (0, "gov-d01")
        await asyncio.sleep(0.5)
        assert jt.queue.empty() and gov.queue.empty()  # nothing twice, nothing foreign


async def test_many_open_streams_cost_one_read_per_wake_up(
    feed_and_sessions: tuple[CaseFeed, Any],
) -> None:
    feed, sessions = feed_and_sessions
    units = [f"unit-{n}" for n in range(26)]
    async with contextlib.AsyncExitStack() as stack:
        subs = {u: await stack.enter_async_context(feed.subscribe(u)) for u in units}
        await asyncio.sleep(1.0)  # settle: the reader polls every 0.2 s while streams are open
        before = len(feed.reads)  # type: ignore[attr-defined]
        await asyncio.sleep(1.0)
        polls = len(feed.reads) - before  # type: ignore[attr-defined]
        # One reader for 26 streams: about five reads a second, not 26 × five.
        assert polls <= 8, polls
        await apply(sessions, handlers.open_cases, assigned(uuid.uuid4(), 1, 1, "unit-7", (), 0))
        [(_, _, row)] = await _take(subs["unit-7"].queue, 1)
        assert row.unit_id == "unit-7"
        assert all(s.queue.empty() for u, s in subs.items() if u != "unit-7")


async def test_consultations_come_with_the_cases_in_transaction_order(
    feed_and_sessions: tuple[CaseFeed, Any],
) -> None:
    feed, sessions = feed_and_sessions
    cid = uuid.uuid4()
    now = datetime.now(UTC)
    opened = consultation_opened(cid, now)
    async with feed.subscribe("dept-hj") as hj:
        start = hj.joined_at
        await apply(sessions, handlers.open_cases, assigned(uuid.uuid4(), 1, 1, "dept-hj", (), 0))
        await apply(sessions, collaboration.note_consultation_opened, opened)
        await apply(sessions, handlers.open_cases, assigned(uuid.uuid4(), 1, 1, "dept-hj", (), 1))
        got = await _take(hj.queue, 3)
        assert [kind for _, kind, _ in got] == [0, 1, 0]
        (_, _, handed), horizon = got[1], got[2][0] + 1
        # The reader reads consultations as JSON; a catching-up stream reads the record:
        # both show the same item.
        changes, _ = await feed.read_changes("dept-hj", start, horizon)
        [record] = [row for _, kind, row in changes if kind == 1]
        assert ConsultationItem.model_validate(handed._mapping) == ConsultationItem.model_validate(
            record._mapping
        )


@pytest.mark.parametrize("reader_running", [True, False], ids=["read-carries-notify", "own-notify"])
async def test_a_change_in_one_replica_wakes_the_others_streams(
    new_database: DatabaseFactory, reader_running: bool
) -> None:
    url = await new_database("feed2")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    engine = create_engine(DepartmentSettings(database={"url": url}).database)
    sessions = session_factory(engine)
    read_feed, read_changes, bounds = database_reads(engine, limit=50)
    # Polls far apart: only the NOTIFY can bring the change to the other replica in time.
    here = CaseFeed(url, poll_s=60, read_feed=read_feed, read_changes=read_changes, bounds=bounds)
    there = CaseFeed(url, poll_s=60, read_feed=read_feed, read_changes=read_changes, bounds=bounds)
    # The commits below happen in this replica: they wake ``here`` in-process (which then
    # notifies the others), never ``there``, as if it ran in another process.
    _FEEDS.discard(there)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if reader_running:
                await stack.enter_async_context(here.subscribe("dept-hj"))
            sub = await stack.enter_async_context(there.subscribe("dept-jt"))
            await asyncio.sleep(0.3)
            cid = uuid.uuid4()
            await apply(sessions, handlers.open_cases, assigned(cid, 1, 1, "dept-jt", (), 0))
            [(_, _, row)] = await _take(sub.queue, 1, timeout=5)
            assert row.complaint_id == cid
    finally:
        await here.close()
        await there.close()
        await engine.dispose()
