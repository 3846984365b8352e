"""Drill-down lists: the complaints behind a number, and the overdue/warning board."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from jiesu_metrics import domain
from jiesu_metrics.dashboard.figures import EFFECTIVE
from jiesu_metrics.dashboard.scope import Scope, Window, day_start
from jiesu_metrics.repository import MetricsRepository

# measure → (the moment that puts a complaint in the window, extra FROM, extra WHERE).
# Each selects complaint_facts f (and for round-based measures a round r of the complaint).
_ROUND = "JOIN rounds r ON r.complaint_id = f.complaint_id"
MEASURES: dict[str, tuple[str, str, str]] = {
    "filed": ("f.received_at", "", ""),
    "closed": ("f.closed_at", "", ""),
    "assigned": ("r.assigned_at", _ROUND, ""),
    "reviewed": (
        "rv.completed_at",
        "JOIN review_facts rv ON rv.complaint_id = f.complaint_id "
        "JOIN rounds r ON r.complaint_id = rv.complaint_id AND r.round = rv.round",
        "",
    ),
    "dissatisfied": (
        "rv.completed_at",
        "JOIN review_facts rv ON rv.complaint_id = f.complaint_id "
        "JOIN rounds r ON r.complaint_id = rv.complaint_id AND r.round = rv.round",
        "AND rv.satisfaction = 'dissatisfied'",
    ),
    "reopened": (
        "rv.completed_at",
        "JOIN review_facts rv ON rv.complaint_id = f.complaint_id "
        "JOIN rounds r ON r.complaint_id = rv.complaint_id AND r.round = rv.round",
        "AND (NOT rv.resolved OR rv.satisfaction = 'dissatisfied')",
    ),
    "returned": (
        "rt.returned_at",
        "JOIN return_facts rt ON rt.complaint_id = f.complaint_id "
        "JOIN rounds r ON r.complaint_id = rt.complaint_id AND r.round = rt.round",
        "",
    ),
    "breached": (
        "c.breached_at",
        "JOIN clocks c ON c.complaint_id = f.complaint_id "
        "JOIN rounds r ON r.complaint_id = c.complaint_id AND r.round = c.round",
        "",
    ),
}
# Whose unit a round-based measure is about when filtered by unit.
_UNIT_OF = {"returned": "rt.unit_id", "breached": "c.unit_id"}
STATUS = """CASE WHEN f.closed_at IS NOT NULL THEN 'closed'
                 WHEN f.merged_at IS NOT NULL THEN 'merged'
                 WHEN f.withdrawn_at IS NOT NULL THEN 'withdrawn'
                 WHEN f.answered_at IS NOT NULL THEN 'answered'
                 WHEN f.current_round > 0 THEN 'in_progress'
                 ELSE 'received' END"""


async def complaints(
    repo: MetricsRepository,
    *,
    measure: str,
    window: Window,
    scope: Scope,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Any]:
    """The complaints counted by ``measure`` in ``window`` (newest first), one row each."""
    moment, joins, extra = MEASURES[measure]
    where = scope.on_rounds("r", _UNIT_OF.get(measure)) if joins else scope.on_facts("f")
    params: dict[str, Any] = {
        "start": window.start,
        "end": window.end,
        "limit": limit + 1,
        **scope.params(),
    }
    keyset = ""
    if after is not None:
        params["after_at"], params["after_id"] = after
        keyset = "WHERE (at, complaint_id) < (:after_at, :after_id)"
    return await repo.fetch(
        f"""SELECT * FROM (
              SELECT DISTINCT ON (f.complaint_id) f.complaint_id, f.ticket_no, f.category_code,
                     f.district_code, f.street_code, f.community_code, f.grid_code, f.address,
                     f.received_at, f.closed_at, {STATUS} AS status, {moment} AS at,
                     (SELECT lr.lead_unit_id FROM rounds lr WHERE lr.complaint_id = f.complaint_id
                      ORDER BY lr.round DESC LIMIT 1) AS lead_unit_id
              FROM complaint_facts f {joins}
              WHERE {moment} >= :start AND {moment} < :end {extra} {where}
              ORDER BY f.complaint_id, {moment} DESC
            ) AS listed {keyset}
            ORDER BY at DESC, complaint_id DESC LIMIT :limit""",
        params,
    )


HORIZONS = ("overdue", "today", "tomorrow", "week")


def horizon_bounds(now: datetime, tz: str) -> dict[str, tuple[datetime | None, datetime]]:
    """Deadline ranges of the board's tabs: past due, due today, tomorrow, this week."""
    today = day_start(now, tz)
    week_end = today + timedelta(days=7 - today.weekday())
    return {
        "overdue": (None, now),
        "today": (now, today + timedelta(days=1)),
        "tomorrow": (today + timedelta(days=1), today + timedelta(days=2)),
        "week": (now, week_end),
    }


_OPEN = f"""FROM clocks c
    JOIN complaint_facts f ON f.complaint_id = c.complaint_id
    JOIN rounds r ON r.complaint_id = c.complaint_id AND r.round = c.round
    WHERE c.stopped_at IS NULL AND c.round = f.current_round AND {EFFECTIVE} IS NOT NULL
      AND f.withdrawn_at IS NULL AND f.merged_at IS NULL AND f.closed_at IS NULL"""


async def board_counts(
    repo: MetricsRepository, *, scope: Scope, now: datetime, tz: str
) -> dict[str, int]:
    """How many open clocks each horizon holds."""
    params: dict[str, Any] = {**scope.params()}
    parts = []
    for name, (lo, hi) in horizon_bounds(now, tz).items():
        params[f"{name}_hi"] = hi
        cond = f"{EFFECTIVE} < :{name}_hi"
        if lo is not None:
            params[f"{name}_lo"] = lo
            cond += f" AND {EFFECTIVE} >= :{name}_lo"
        parts.append(f"count(*) FILTER (WHERE {cond}) AS {name}")
    row = (
        await repo.fetch(
            f"SELECT {', '.join(parts)} {_OPEN} {scope.on_rounds('r', 'c.unit_id')}", params
        )
    )[0]
    return dict(row._mapping)


async def board(
    repo: MetricsRepository,
    *,
    horizon: str,
    scope: Scope,
    now: datetime,
    tz: str,
    limit: int,
) -> list[Any]:
    """Open clocks of a horizon, the most urgent first."""
    lo, hi = horizon_bounds(now, tz)[horizon]
    params: dict[str, Any] = {"hi": hi, "limit": limit, **scope.params()}
    cond = f"{EFFECTIVE} < :hi"
    if lo is not None:
        params["lo"] = lo
        cond += f" AND {EFFECTIVE} >= :lo"
    return await repo.fetch(
        f"""SELECT c.clock_id, c.complaint_id, f.ticket_no, c.round, c.unit_id, c.clock, c.role,
                   c.started_at, {EFFECTIVE} AS deadline, c.warned_at, c.breached_at, c.level,
                   c.level_at, f.category_code, f.street_code, f.district_code
            {_OPEN} AND {cond} {scope.on_rounds("r", "c.unit_id")}
            ORDER BY {EFFECTIVE}, c.clock_id LIMIT :limit""",
        params,
    )


def light(row: Any, now: datetime, warning_fraction: float) -> str:
    """red: past due; yellow: the warning share of the clock has run; green: otherwise."""
    if row.deadline <= now:
        return "red"
    if row.started_at is None:
        return "green"
    warn = domain.warning_time(row.started_at, row.deadline, warning_fraction)
    return "yellow" if row.warned_at is not None or now >= warn else "green"


def ladder_times(row: Any, ladder: domain.Ladder) -> list[dict[str, Any]]:
    """催办 at the deadline, 督办 and 通报 the configured working days after it."""
    reached = domain.LEVELS.index(row.level) if row.level in domain.LEVELS else -1
    due = {
        "reminder": row.deadline,
        "supervision": ladder.calendar.add_working_days(row.deadline, ladder.supervision_after),
        "notice": ladder.calendar.add_working_days(row.deadline, ladder.notice_after),
    }
    return [
        {"level": level, "due_at": due[level], "reached": n <= reached}
        for n, level in enumerate(domain.LEVELS)
    ]
