"""The command line every service shares: ``serve``, ``worker``, ``migrate``, ``healthcheck``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from jiesu_common.container import probe_health
from jiesu_common.db.engine import ensure_database
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.logging import configure_logging
from jiesu_common.runtime import ServiceContext
from jiesu_common.settings import ServiceSettings

log = logging.getLogger(__name__)


def run_service_cli(
    *,
    name: str,
    settings_factory: Callable[[], ServiceSettings],
    create_app: Callable[[ServiceSettings], FastAPI],
    create_context: Callable[[ServiceSettings], ServiceContext],
    migrations_dir: Path,
    after_migrate: Callable[[ServiceSettings], Coroutine[Any, Any, None]] | None = None,
    argv: Sequence[str] | None = None,
) -> int:
    """Parse ``argv`` and run one of the service's commands; returns an exit code."""
    parser = argparse.ArgumentParser(prog=f"python -m jiesu_{name}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="HTTP API plus consumers and outbox relay")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    sub.add_parser("worker", help="consumers and outbox relay only, no HTTP")
    sub.add_parser("migrate", help="create the database if needed, migrate to head, seed")
    sub.add_parser("healthcheck", help="exit 0 when this host's `serve` answers /healthz")
    args = parser.parse_args(argv)

    settings = settings_factory()
    if args.command == "healthcheck":
        return probe_health(settings.host, settings.port)
    configure_logging(name, settings.log_level)
    if args.command == "migrate":
        _migrate(settings, migrations_dir, after_migrate)
        return 0
    if args.command == "serve":
        host = args.host or settings.host
        port = args.port or settings.port
        app = create_app(settings)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=20,
        )
        _DrainingServer(config, app).run()
        return 0
    return asyncio.run(_worker(create_context(settings)))


class _DrainingServer(uvicorn.Server):
    """Marks the app as draining on SIGTERM, so long-lived streams end and shutdown is quick."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: Any) -> None:
        """Tell streaming routes to finish, then shut down as uvicorn does."""
        self._app.state.draining = True
        super().handle_exit(sig, frame)


def _migrate(
    settings: ServiceSettings,
    migrations_dir: Path,
    after_migrate: Callable[[ServiceSettings], Coroutine[Any, Any, None]] | None,
) -> None:
    if asyncio.run(ensure_database(settings.database.url)):
        log.info("database created")
    upgrade_head(migrations_dir, settings.database.url)
    log.info("schema migrated to head")
    if after_migrate is not None:
        asyncio.run(after_migrate(settings))


async def _worker(ctx: ServiceContext) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await ctx.start()
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await ctx.stop()
    return 0
