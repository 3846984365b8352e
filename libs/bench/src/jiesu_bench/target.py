"""The platform under test: an embedded stack the bench starts itself, or a running `jiesu dev`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from jiesu_common.db.engine import asyncpg_dsn
from jiesu_common.devstack import SERVICES, DevStack

SERVICE_NAMES = tuple(s.name for s in SERVICES if s.database)


@dataclass
class Target:
    """URLs, tokens, databases and process ids of a running platform."""

    urls: dict[str, str]
    tokens: dict[str, Any]
    postgres_url: str
    bootstrap: str
    data_dir: Path
    started_here: bool
    stack: DevStack | None = None  # when the bench started it (chaos may stop and start it)
    extra_pids: dict[str, list[int]] = field(default_factory=dict)

    def current_pids(self) -> dict[str, list[int]]:
        """Every process to measure, as it is now (killed processes come back as new ones)."""
        pids: dict[str, list[int]] = {}
        path = self.data_dir / "dev" / "pids.json"
        with contextlib.suppress(OSError, ValueError):
            pids = {k: [v] for k, v in json.loads(path.read_text()).items()}
        postmaster = _postmaster_pid(self.data_dir / "pg")
        if postmaster:
            pids["postgres"] = [postmaster]
        return {**pids, **self.extra_pids}

    def database(self, service: str) -> str:
        """The asyncpg DSN of one service's database."""
        return asyncpg_dsn(
            make_url(self.postgres_url)
            .set(database=f"jiesu_{service}")
            .render_as_string(hide_password=False)
        )

    @property
    def databases(self) -> dict[str, str]:
        """Every service's database."""
        return {name: self.database(name) for name in SERVICE_NAMES}


def attach(data_dir: Path) -> Target:
    """A running `jiesu dev` on ``data_dir`` (reads the URLs and tokens it wrote)."""
    dev = data_dir / "dev"
    if not (dev / "urls.json").exists():
        raise SystemExit(
            f"{dev / 'urls.json'} 不存在 / not found: start `jiesu dev` first, or drop --attach "
            "to let the bench start its own embedded stack"
        )
    urls = json.loads((dev / "urls.json").read_text())
    tokens = json.loads((dev / "tokens.json").read_text())
    return Target(
        urls={k: urls[k] for k in SERVICE_NAMES},
        tokens=tokens,
        postgres_url=urls["postgres"],
        bootstrap=urls["kafka"],
        data_dir=data_dir,
        started_here=False,
    )


@contextlib.contextmanager
def embedded(data_dir: Path, *, port_base: int, supervise: bool = False) -> Iterator[Target]:
    """A fresh embedded stack on ``data_dir``, stopped (and its outboxes drained) on exit.

    With ``supervise``, whatever dies is restarted, as `jiesu dev` does (chaos runs).
    """
    stack = DevStack(data_dir, port_base=port_base, fresh=True)
    try:
        stack.start()
        if supervise:
            stack.start_supervisor()
        target = attach(data_dir)
        target.started_here = True
        target.stack = stack
        yield target
    finally:
        stack.stop()


def _postmaster_pid(pg_dir: Path) -> int | None:
    for candidate in (pg_dir / "postmaster.pid", *pg_dir.glob("*/postmaster.pid")):
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(candidate.read_text().splitlines()[0])
    return None
