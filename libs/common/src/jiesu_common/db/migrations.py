"""Alembic per service: programmatic upgrade, the shared env.py body, the migrated check."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_engine_from_config


def alembic_config(migrations_dir: Path, url: str) -> Config:
    """An in-memory Alembic config pointing at a service's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_head(migrations_dir: Path, url: str) -> None:
    """Apply every migration (call outside a running event loop, or in a thread)."""
    command.upgrade(alembic_config(migrations_dir, url), "head")


def head_revision(migrations_dir: Path) -> str | None:
    """The newest revision the code expects."""
    script = ScriptDirectory.from_config(alembic_config(migrations_dir, "postgresql://"))
    return script.get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    try:
        async with engine.connect() as conn:
            row = await conn.execute(text("SELECT version_num FROM alembic_version"))
            return row.scalar_one_or_none()
    except DBAPIError as exc:
        if "alembic_version" in str(exc):
            return None
        raise


async def is_migrated(engine: AsyncEngine, migrations_dir: Path) -> bool:
    """True when the database is at the head revision."""
    return await current_revision(engine) == head_revision(migrations_dir)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py`` (async engine, online mode)."""
    config = context.config

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        connectable = async_engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        async with connectable.connect() as connection:
            await connection.run_sync(do_run)
        await connectable.dispose()

    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())
