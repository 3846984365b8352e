"""The embedded PostgreSQL survives what `jiesu dev --fresh` does to its data directory."""

import asyncio
from pathlib import Path

import asyncpg

from jiesu_common.db.engine import asyncpg_dsn
from jiesu_common.embedded import EmbeddedPostgres, remove_tree


async def _answers(server: EmbeddedPostgres) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(server.url))
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


async def test_a_wiped_and_recreated_data_directory_is_initialised_again(tmp_path: Path) -> None:
    datadir = tmp_path / "pg"
    first = EmbeddedPostgres(datadir, durable=False)
    await asyncio.to_thread(first.start)
    await asyncio.to_thread(first.stop)

    # What `jiesu dev --fresh` does: look for a stale server, wipe, start on the same path.
    again = EmbeddedPostgres(datadir, durable=False)
    await asyncio.to_thread(again.stop_stale)
    remove_tree(datadir)
    await asyncio.to_thread(again.start)
    try:
        assert await _answers(again) == 1
    finally:
        await asyncio.to_thread(again.stop)
