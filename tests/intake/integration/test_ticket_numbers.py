"""Ticket numbers: the day plus six digits from the day's own sequence, taken in the insert."""

import asyncio
import datetime as dt
from typing import Any

import asyncpg
import httpx
import pytest

from jiesu_common.db.engine import asyncpg_dsn
from jiesu_common.db.migrations import alembic_config
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_intake.main import MIGRATIONS

from .conftest import bearer
from .test_filing import BODY

OPERATOR = bearer("operator")


def _dsn(client: httpx.AsyncClient) -> str:
    return asyncpg_dsn(client.app.state.intake.settings.database.url)  # type: ignore[attr-defined]


async def test_concurrent_filings_get_distinct_increasing_numbers_of_the_day(
    intake: httpx.AsyncClient,
) -> None:
    bodies = [
        {**BODY, "caller": {"phone": f"1370000{n:04d}"}, "content": f"第{n}件：{'路灯' * n}不亮"}
        for n in range(30)
    ]
    answers = await asyncio.gather(
        *(intake.post("/v1/complaints", json=b, headers=OPERATOR) for b in bodies)
    )
    tickets = sorted(a.json()["ticket_no"] for a in answers)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y%m%d")
    assert all(t.startswith(today) and len(t) == 14 for t in tickets)
    assert [int(t[8:]) for t in tickets] == list(range(1, 31))


async def test_a_day_past_a_million_numbers_refuses_rather_than_repeats(
    intake: httpx.AsyncClient,
) -> None:
    conn = await asyncpg.connect(_dsn(intake))
    try:
        assert (await conn.fetchval("SELECT next_ticket_no('2030-01-01')")) == "20300101000001"
        await conn.execute("ALTER SEQUENCE ticket_seq_20300101 RESTART WITH 999999")
        assert (await conn.fetchval("SELECT next_ticket_no('2030-01-01')")) == "20300101999999"
        with pytest.raises(asyncpg.RaiseError, match="exhausted"):
            await conn.fetchval("SELECT next_ticket_no('2030-01-01')")
    finally:
        await conn.close()


async def test_the_upgrade_carries_on_todays_counter(new_database: DatabaseFactory) -> None:
    from alembic import command

    url = await new_database("tickets")
    config = alembic_config(MIGRATIONS, url)
    await asyncio.to_thread(command.upgrade, config, "0003")
    today = dt.date.today()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("INSERT INTO ticket_counters (day, last) VALUES ($1, 41)", today)
        await asyncio.to_thread(command.upgrade, config, "head")
        number: Any = await conn.fetchval("SELECT next_ticket_no($1)", today)
        assert number == f"{today:%Y%m%d}000042"
        await asyncio.to_thread(command.downgrade, config, "0003")
        assert await conn.fetchval("SELECT last FROM ticket_counters WHERE day = $1", today) == 42
    finally:
        await conn.close()
