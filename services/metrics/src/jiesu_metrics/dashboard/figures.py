"""KPI cards and daily trends, each one aggregate statement per fact table."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jiesu_metrics.dashboard.scope import Scope, Window, day_start
from jiesu_metrics.repository import MetricsRepository
from jiesu_metrics.settings import CompositeWeights

# A clock's decisive moment: when it stopped in time, else when it became late.
EFFECTIVE = "COALESCE(c.extended_deadline, c.deadline)"
DECIDED_AT = f"LEAST(c.stopped_at, {EFFECTIVE})"
IS_DECIDED = "(c.stopped_at IS NOT NULL OR c.breached_at IS NOT NULL)"


def kpi_windows(now: datetime, tz: str) -> dict[str, Window]:
    """Today and the month so far, each against the same span of the period before."""
    today = day_start(now, tz)
    month = today.replace(day=1)
    prev_month = (month - timedelta(days=1)).replace(day=1)
    elapsed = now - month
    return {
        "today": Window(today, now),
        "yesterday": Window(today - timedelta(days=1), now - timedelta(days=1)),
        "month": Window(month, now),
        "prev_month": Window(prev_month, min(prev_month + elapsed, month)),
    }


def _filters(column: str, windows: dict[str, Window], params: dict[str, Any]) -> str:
    """``count(*) FILTER (...) AS <column>_<window>`` for each window; binds the bounds."""
    parts = []
    for name, w in windows.items():
        params[f"{name}_s"], params[f"{name}_e"] = w.start, w.end
        parts.append(
            f"count(*) FILTER (WHERE {column} >= :{name}_s AND {column} < :{name}_e) AS n_{name}"
        )
    return ", ".join(parts)


async def kpis(
    repo: MetricsRepository,
    *,
    scope: Scope,
    windows: dict[str, Window],
    weights: CompositeWeights,
    now: datetime,
) -> dict[str, dict[str, Any]]:
    """Every card's value per window (counts, rates and the rates' denominators)."""
    lo = min(w.start for w in windows.values())
    hi = max(w.end for w in windows.values())
    out: dict[str, dict[str, Any]] = {name: {} for name in windows}

    async def counts(key: str, sql: str, column: str) -> None:
        params = {"lo": lo, "hi": hi, **scope.params()}
        row = (await repo.fetch(sql.format(filters=_filters(column, windows, params)), params))[0]
        for name in windows:
            out[name][key] = row._mapping[f"n_{name}"]

    await counts(
        "filed",
        "SELECT {filters} FROM complaint_facts f WHERE f.received_at >= :lo "
        "AND f.received_at < :hi" + scope.on_facts("f"),
        "f.received_at",
    )
    await counts(
        "closed",
        "SELECT {filters} FROM complaint_facts f WHERE f.closed_at >= :lo "
        "AND f.closed_at < :hi" + scope.on_facts("f"),
        "f.closed_at",
    )
    await counts(
        "assigned",
        "SELECT {filters} FROM rounds r WHERE r.assigned_at >= :lo AND r.assigned_at < :hi"
        + scope.on_rounds("r"),
        "r.assigned_at",
    )
    await counts(
        "breached",
        "SELECT {filters} FROM clocks c JOIN rounds r ON r.complaint_id = c.complaint_id "
        "AND r.round = c.round WHERE c.breached_at >= :lo AND c.breached_at < :hi"
        + scope.on_rounds("r", "c.unit_id"),
        "c.breached_at",
    )
    params: dict[str, Any] = {"lo": lo, "hi": hi, **scope.params()}
    sums = []
    for name, w in windows.items():
        params[f"{name}_s"], params[f"{name}_e"] = w.start, w.end
        inside = f"rv.completed_at >= :{name}_s AND rv.completed_at < :{name}_e"
        sums.append(
            f"count(*) FILTER (WHERE {inside}) AS reviewed_{name}, "
            f"count(*) FILTER (WHERE {inside} AND rv.contacted) AS contacted_{name}, "
            f"count(*) FILTER (WHERE {inside} AND rv.resolved) AS resolved_{name}, "
            f"count(*) FILTER (WHERE {inside} AND rv.satisfaction <> 'dissatisfied') "
            f"AS satisfied_{name}"
        )
    row = (
        await repo.fetch(
            f"SELECT {', '.join(sums)} FROM review_facts rv JOIN rounds r "
            "ON r.complaint_id = rv.complaint_id AND r.round = rv.round "
            "WHERE rv.completed_at >= :lo AND rv.completed_at < :hi" + scope.on_rounds("r"),
            params,
        )
    )[0]._mapping
    for name in windows:
        reviewed = row[f"reviewed_{name}"]
        rates = three_rates(
            reviewed,
            row[f"contacted_{name}"],
            row[f"resolved_{name}"],
            row[f"satisfied_{name}"],
            weights,
        )
        out[name].update(reviewed=reviewed, **rates)
    open_overdue = await repo.fetch(
        f"""SELECT count(*) AS n FROM clocks c
            JOIN complaint_facts f ON f.complaint_id = c.complaint_id
            JOIN rounds r ON r.complaint_id = c.complaint_id AND r.round = c.round
            WHERE c.stopped_at IS NULL AND c.round = f.current_round AND {EFFECTIVE} < :now
              AND f.withdrawn_at IS NULL AND f.merged_at IS NULL AND f.closed_at IS NULL
              {scope.on_rounds("r", "c.unit_id")}""",
        {"now": now, **scope.params()},
    )
    for name in windows:
        out[name]["overdue_now"] = open_overdue[0].n
    return out


def three_rates(
    reviewed: int, contacted: int, resolved: int, satisfied: int, w: CompositeWeights
) -> dict[str, float | None]:
    """The three rates and the composite (None without reviews)."""
    if not reviewed:
        return dict.fromkeys(("response_rate", "resolution_rate", "satisfaction_rate", "composite"))
    response, resolution, satisfaction = (
        contacted / reviewed,
        resolved / reviewed,
        satisfied / reviewed,
    )
    composite = w.response * response + w.resolution * resolution + w.satisfaction * satisfaction
    return {
        "response_rate": round(response, 4),
        "resolution_rate": round(resolution, 4),
        "satisfaction_rate": round(satisfaction, 4),
        "composite": round(composite, 4),
    }


async def trends(
    repo: MetricsRepository, *, scope: Scope, days: int, now: datetime, tz: str
) -> list[dict[str, Any]]:
    """Per local day: filed, closed, backlog at day's end, median hours to close, on time."""
    end = day_start(now, tz) + timedelta(days=1)
    start = end - timedelta(days=days)
    params = {"lo": start, "hi": end, "now": now, "tz": tz, **scope.params()}
    day = "date_trunc('day', {col} AT TIME ZONE :tz)"
    rows = await repo.fetch(
        f"""
        WITH days AS (
            SELECT generate_series(date_trunc('day', :lo AT TIME ZONE :tz),
                                   date_trunc('day', :hi AT TIME ZONE :tz) - interval '1 day',
                                   interval '1 day') AS d
        ),
        facts AS (
            SELECT f.received_at, f.closed_at,
                   LEAST(f.closed_at, f.withdrawn_at, f.answered_at) AS ended_at
            FROM complaint_facts f
            WHERE f.received_at < :hi {scope.on_facts("f")}
              AND (LEAST(f.closed_at, f.withdrawn_at, f.answered_at) IS NULL
                   OR LEAST(f.closed_at, f.withdrawn_at, f.answered_at) >= :lo
                   OR f.received_at >= :lo)
        ),
        base AS (
            SELECT count(*) AS n FROM facts
            WHERE received_at < :lo AND (ended_at IS NULL OR ended_at >= :lo)
        ),
        filed AS (
            SELECT {day.format(col="received_at")} AS d, count(*) AS n FROM facts
            WHERE received_at >= :lo GROUP BY 1
        ),
        ended AS (
            SELECT {day.format(col="ended_at")} AS d, count(*) AS n FROM facts
            WHERE ended_at >= :lo AND ended_at < :hi
            GROUP BY 1
        ),
        closed AS (
            SELECT {day.format(col="closed_at")} AS d, count(*) AS n,
                   percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY extract(epoch FROM closed_at - received_at)) / 3600.0 AS median_h
            FROM facts WHERE closed_at >= :lo AND closed_at < :hi AND received_at IS NOT NULL
            GROUP BY 1
        ),
        timely AS (
            SELECT {day.format(col=DECIDED_AT)} AS d, count(*) AS decided,
                   count(*) FILTER (WHERE c.stopped_at <= {EFFECTIVE}) AS on_time
            FROM clocks c JOIN rounds r ON r.complaint_id = c.complaint_id AND r.round = c.round
            WHERE c.clock = 'resolve' AND {IS_DECIDED}
              AND {DECIDED_AT} >= :lo AND {DECIDED_AT} < :hi {scope.on_rounds("r", "c.unit_id")}
            GROUP BY 1
        )
        SELECT days.d AS day,
               COALESCE(filed.n, 0) AS filed,
               COALESCE(closed.n, 0) AS closed,
               (SELECT n FROM base)
                 + sum(COALESCE(filed.n, 0) - COALESCE(ended.n, 0)) OVER (ORDER BY days.d)
                 AS backlog,
               closed.median_h AS median_close_hours,
               COALESCE(timely.decided, 0) AS resolve_decided,
               COALESCE(timely.on_time, 0) AS resolve_on_time
        FROM days
        LEFT JOIN filed ON filed.d = days.d
        LEFT JOIN ended ON ended.d = days.d
        LEFT JOIN closed ON closed.d = days.d
        LEFT JOIN timely ON timely.d = days.d
        ORDER BY days.d""",
        params,
    )
    return [
        {
            "day": r.day.date().isoformat(),
            "filed": r.filed,
            "closed": r.closed,
            "backlog": int(r.backlog),
            "median_close_hours": None
            if r.median_close_hours is None
            else round(float(r.median_close_hours), 2),
            "resolve_decided": r.resolve_decided,
            "on_time_resolve_rate": round(r.resolve_on_time / r.resolve_decided, 4)
            if r.resolve_decided
            else None,
        }
        for r in rows
    ]
