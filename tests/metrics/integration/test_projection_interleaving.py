"""Metrics' projections reach the same state whatever order the topics interleave in."""

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from jiesu_common.contracts import parse_payload
from jiesu_common.db.engine import create_engine, drop_database, ensure_database, session_factory
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.testing.plugin import database_url
from jiesu_metrics.consumers import handler_table
from jiesu_metrics.handlers import MetricsUnitOfWork
from jiesu_metrics.main import MIGRATIONS, new_projector
from jiesu_metrics.scorecards import Period, scorecard
from jiesu_metrics.settings import CompositeWeights, MetricsSettings
from tests.metrics.scenario import at, story

TABLES = {
    "complaint_facts": "complaint_id",
    "rounds": "complaint_id, round",
    "clocks": "complaint_id, round, unit_id, clock",
    "review_facts": "review_id",
    "return_facts": "case_id",
}
STORY = story()
TAGS = [name for name, events in STORY.items() for _ in events]


def merge(order: list[str]) -> list[Any]:
    """Pop each topic's next event in the drawn order: per-topic order is kept."""
    queues = {name: list(events) for name, events in STORY.items()}
    return [queues[name].pop(0) for name in order]


class Projection:
    """One migrated database, replayed into from scratch for every interleaving."""

    def __init__(self, url: str) -> None:
        self.settings = MetricsSettings(database={"url": url}, auth={"jwt_secret": "x" * 40})
        self.engine = create_engine(self.settings.database)
        self.sessions = session_factory(self.engine)
        self.projector = new_projector(self.settings)
        self.handlers = handler_table(self.projector)

    async def replay(self, events: list[Any]) -> dict[str, Any]:
        async with self.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES)}, outbox"))
        for event in events:
            handler = self.handlers.get(event.type)
            if handler is None:
                continue  # as the consumer runner does: not metrics' business
            async with MetricsUnitOfWork(self.sessions) as uow:
                await handler(parse_payload(event), event, uow)
                await uow.commit()
        state = await self.snapshot()
        async with MetricsUnitOfWork(self.sessions) as uow:
            await self.projector.tick(uow, now=at(30 * 1440))
        async with self.engine.connect() as conn:
            fired = await conn.execute(text("SELECT event_type, key FROM outbox ORDER BY 1, 2"))
            state["fired"] = [tuple(r) for r in fired]
        return state

    async def snapshot(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        async with self.engine.connect() as conn:
            for table, order in TABLES.items():
                rows = await conn.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
                state[table] = [tuple(r) for r in rows]
            # Stopped clocks (of all stops) and those of them still due to be looked at.
            stopped = await conn.execute(
                text(
                    "SELECT count(*), count(next_fire_at) FROM clocks WHERE stopped_at IS NOT NULL"
                )
            )
            state["stopped_clocks"] = tuple(stopped.one())
        async with MetricsUnitOfWork(self.sessions) as uow:
            state["scorecard"] = await scorecard(
                uow.metrics,
                period=Period.parse("2026-11", "Asia/Shanghai"),
                level="unit",
                weights=CompositeWeights(),
            )
        return state


def test_projections_converge_under_any_interleaving(pg_server_url: str) -> None:
    url = database_url(pg_server_url, "t_metrics_interleave")
    loop = asyncio.new_event_loop()
    loop.run_until_complete(drop_database(url))
    loop.run_until_complete(ensure_database(url))
    upgrade_head(MIGRATIONS, url)
    projection = Projection(url)
    try:
        canonical = loop.run_until_complete(projection.replay(merge(TAGS)))
        # The story exercises what it should: a return, a reopen, an extension, escalations.
        rows = {r["key"]: r for r in canonical["scorecard"]["items"]}
        # A stopped clock is never looked at again, whichever came first, start or stop.
        stopped, still_due = canonical["stopped_clocks"]
        assert stopped > 5 and still_due == 0
        assert rows["gov-d01"]["reviewed"] == 2 and rows["gov-d01"]["reopened"] == 1
        assert rows["dept-jt"]["returns_approved"] == 1
        assert rows["dept-cg-d01"]["accept_late"] == 1
        # Only the complaint nobody acted on fires: three clocks, each breach + full ladder.
        untouched = str(STORY["intake"][3].subject)
        assert {key for _, key in canonical["fired"]} == {untouched}
        kinds = [kind for kind, _ in canonical["fired"]]
        assert kinds.count("jiesu.sla.breached.v1") == 3
        assert kinds.count("jiesu.escalation.raised.v1") == 9

        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(st.permutations(TAGS))
        def check(order: list[str]) -> None:
            assert loop.run_until_complete(projection.replay(merge(order))) == canonical

        check()
    finally:
        loop.run_until_complete(projection.engine.dispose())
        loop.run_until_complete(drop_database(url))
        loop.close()
