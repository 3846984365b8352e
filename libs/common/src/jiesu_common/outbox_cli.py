"""``jiesu outbox``: what a service's outbox holds, and re-publishing it by hand.

After a Kafka disaster recovery (a cluster restored from an older snapshot, say) an
operator can have a service send again everything it published since a time:
``jiesu outbox republish --service intake --since 2026-12-01T08:00+08:00``. The rows are
made pending; the running service's relay sends them in outbox order. Repeating it is
harmless: every consumer's inbox drops what it has already handled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from jiesu_common.db.engine import create_engine
from jiesu_common.messaging.outbox import load_acks, mark_for_republication
from jiesu_common.settings import DatabaseSettings

SERVICES = ("intake", "dispatch", "department", "review", "metrics")


def add_parser(sub: Any, data_dir: Path) -> None:
    """Register ``jiesu outbox status|republish``."""
    outbox = sub.add_parser("outbox", help="a service's outbox: status, re-publish by hand")
    actions = outbox.add_subparsers(dest="action", required=True)
    for name, helptext in (
        ("status", "pending and retained rows, what the broker acknowledged"),
        ("republish", "send again every retained event created since a time"),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("--service", required=True, choices=SERVICES)
        action.add_argument(
            "--database-url",
            help="the service's database (default: $JIESU_<SERVICE>_DATABASE__URL, "
            "else the running `jiesu dev`'s)",
        )
        action.add_argument("--data-dir", type=Path, default=data_dir)
        if name == "republish":
            action.add_argument(
                "--since",
                required=True,
                type=_time,
                help="ISO 8601 time, e.g. 2026-12-01T08:00+08:00 (no offset: local time)",
            )


def run(args: argparse.Namespace) -> int:
    """Carry out ``jiesu outbox ...``."""
    url = database_url(args.service, args.database_url, args.data_dir)
    if args.action == "republish":
        return asyncio.run(_republish(url, args.service, args.since))
    return asyncio.run(_status(url, args.service))


def database_url(service: str, given: str | None, data_dir: Path) -> str:
    """Where the service's database is: as given, from its settings' variable, or dev's."""
    if given:
        return given
    env = os.environ.get(f"JIESU_{service.upper()}_DATABASE__URL")
    if env:
        return env
    urls = data_dir / "dev" / "urls.json"
    if not urls.exists():
        raise SystemExit(
            f"找不到数据库 / no database: pass --database-url, set "
            f"JIESU_{service.upper()}_DATABASE__URL, or run `jiesu dev` ({urls} not found)"
        )
    server = json.loads(urls.read_text())["postgres"]
    return make_url(server).set(database=f"jiesu_{service}").render_as_string(False)


async def _republish(url: str, service: str, since: datetime) -> int:
    engine = create_engine(DatabaseSettings(url=url, pool_size=1, max_overflow=0))
    try:
        count, oldest = await mark_for_republication(engine, since)
    finally:
        await engine.dispose()
    print(
        f"{service}: 已标记 {count} 条事件待重新发布 / {count} event(s) created since "
        f"{since.isoformat()} will be published again, in order, by the running service"
    )
    if oldest is not None and oldest > since:
        print(
            f"注意 / note: the oldest event still kept is from {oldest.isoformat()}; "
            "anything older is past the outbox retention and cannot be sent again"
        )
    return 0


async def _status(url: str, service: str) -> int:
    engine = create_engine(DatabaseSettings(url=url, pool_size=1, max_overflow=0))
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE published_at IS NULL) AS pending, "
                        "count(published_at) AS retained, min(created_at) AS oldest FROM outbox"
                    )
                )
            ).one()
            cluster = (
                await conn.execute(text("SELECT cluster_id FROM outbox_cluster"))
            ).scalar_one_or_none()
            acks = await load_acks(conn)
    finally:
        await engine.dispose()
    print(f"{service}: pending {row.pending}, retained (published) {row.retained}")
    print(f"  oldest row: {row.oldest.isoformat() if row.oldest else '-'}")
    print(f"  broker cluster: {cluster or '-'}")
    for (topic, partition), nxt in sorted(acks.items()):
        print(f"  acknowledged {topic}[{partition}]: next offset {nxt}")
    return 0


def _time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.astimezone()
