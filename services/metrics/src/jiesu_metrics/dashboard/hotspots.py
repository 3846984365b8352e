"""Hot spots (每月一题 / 未诉先办): category × place × window clusters, ranked by surprise.

A cluster is the complaints of one category at one place (grid, community or street) in
the latest window (a day, a week or 30 days, ending now). Its expected count λ comes from
the same place and category over the N windows before it, smoothed by one pseudo-window
holding one complaint, λ = (Σ past + 1) / (N + 1), so a place with no history is not
infinitely surprising. Surprise is −log10 P(X ≥ x) for X ~ Poisson(λ): how unlikely
this many complaints would be if the place behaved as it always has. Every count is an
SQL aggregate; only the few clusters above the minimum count reach Python.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from jiesu_metrics.dashboard.scope import Scope
from jiesu_metrics.repository import MetricsRepository

WINDOWS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
LEVELS = ("grid", "community", "street")


def poisson_surprise(count: int, lam: float) -> float:
    """−log10 P(X ≥ count) for X ~ Poisson(lam), in log space (no overflow for big counts)."""
    if count <= 0:
        return 0.0

    def log_terms(lo: int, hi: int) -> list[float]:
        return [-lam + i * math.log(lam) - math.lgamma(i + 1) for i in range(lo, hi)]

    if count > lam:
        # Above the mean the terms shrink at least geometrically: a bounded sum suffices.
        tail = _logsumexp(log_terms(count, count + 60 + int(10 * math.sqrt(lam))))
    else:
        below = _logsumexp(log_terms(0, count))
        tail = math.log1p(-min(math.exp(below), 1 - 1e-16))
    return round(max(0.0, -tail / math.log(10)), 3)


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


async def find_hotspots(
    repo: MetricsRepository,
    *,
    level: str,
    window: str,
    history: int,
    at: datetime,
    min_count: int,
    scope: Scope,
    limit: int,
) -> list[dict[str, Any]]:
    """The clusters of the latest window, most unusual first."""
    span = WINDOWS[window]
    column = f"{level}_code"
    params: dict[str, Any] = {
        "at": at,
        "since": at - span * (history + 1),
        "span_s": span.total_seconds(),
        "window_start": at - span,
        "min_count": min_count,
        **scope.params(),
    }
    # Every complaint of the span with its window index k (0 = latest); duplicates merged
    # into a complaint count in its master's cluster, at the time they were merged.
    base = f"""
        base AS (
            SELECT f.complaint_id, f.category_code AS cat, f.{column} AS place,
                   f.caller_ref, f.address,
                   floor(extract(epoch FROM (:at - f.received_at)) / :span_s)::int AS k
            FROM complaint_facts f
            WHERE f.received_at >= :since AND f.received_at < :at
              AND f.category_code IS NOT NULL AND f.{column} IS NOT NULL {scope.on_facts("f")}
              -- a case opened from a hot spot does not feed the hot spot it came from
              AND f.proactive IS DISTINCT FROM 'hotspot'
        ),
        current AS (
            SELECT cat, place, count(*) AS n FROM base WHERE k = 0
            GROUP BY 1, 2 HAVING count(*) >= :min_count
        )"""
    clusters = await repo.fetch(
        f"""WITH {base},
        past AS (
            SELECT b.cat, b.place, array_agg(b.k) AS ks FROM base b
            JOIN current USING (cat, place) WHERE b.k > 0 GROUP BY 1, 2
        ),
        callers AS (
            SELECT cat, place, count(*) AS n FROM (
                SELECT b.cat, b.place, b.caller_ref FROM base b JOIN current USING (cat, place)
                WHERE b.caller_ref IS NOT NULL GROUP BY 1, 2, 3
                HAVING count(*) >= 2 AND bool_or(b.k = 0)
            ) AS x GROUP BY 1, 2
        ),
        addresses AS (
            SELECT cat, place, count(*) AS n FROM (
                SELECT b.cat, b.place, b.address FROM base b JOIN current USING (cat, place)
                WHERE b.address IS NOT NULL GROUP BY 1, 2, 3
                HAVING count(*) >= 2 AND bool_or(b.k = 0)
            ) AS x GROUP BY 1, 2
        ),
        reviews AS (
            SELECT b.cat, b.place, count(*) AS reviewed,
                   count(*) FILTER (WHERE rv.satisfaction <> 'dissatisfied') AS satisfied
            FROM base b JOIN current USING (cat, place)
            JOIN review_facts rv ON rv.complaint_id = b.complaint_id
            WHERE b.k = 0 GROUP BY 1, 2
        ),
        duplicates AS (
            SELECT b.cat, b.place, count(*) AS n FROM complaint_facts m
            JOIN base b ON b.complaint_id = m.master_id
            JOIN current USING (cat, place)
            WHERE m.master_id IS NOT NULL AND m.merged_at >= :window_start AND m.merged_at < :at
            GROUP BY 1, 2
        )
        SELECT current.cat, current.place, current.n, past.ks,
               COALESCE(callers.n, 0) AS repeat_callers,
               COALESCE(addresses.n, 0) AS repeat_addresses,
               COALESCE(reviews.reviewed, 0) AS reviewed, COALESCE(reviews.satisfied, 0)
                 AS satisfied,
               COALESCE(duplicates.n, 0) AS duplicates
        FROM current
        LEFT JOIN past USING (cat, place)
        LEFT JOIN callers USING (cat, place)
        LEFT JOIN addresses USING (cat, place)
        LEFT JOIN reviews USING (cat, place)
        LEFT JOIN duplicates USING (cat, place)""",
        params,
    )
    found = [_cluster(row, history, at, span, level, window) for row in clusters]
    found.sort(key=lambda c: (-c["surprise"], -c["count"], c["category_code"], c["place_code"]))
    return found[:limit]


def _cluster(
    row: Any, history: int, at: datetime, span: timedelta, level: str, window: str
) -> dict[str, Any]:
    series = [0] * (history + 1)  # oldest window first, the latest last
    for k in row.ks or []:
        series[history - k] += 1
    series[history] = row.n
    past_total = sum(series[:history])
    lam = (past_total + 1) / (history + 1)
    count = row.n + row.duplicates
    return {
        "category_code": row.cat,
        "level": level,
        "place_code": row.place,
        "window": window,
        "window_start": at - span,
        "window_end": at,
        "count": count,
        "complaints": row.n,
        "duplicates": row.duplicates,
        "history": series[:history],
        "expected": round(lam, 3),
        "trend": round(row.n / (past_total / history), 3) if past_total else None,
        "surprise": poisson_surprise(count, lam),
        "z_score": round((count - lam) / math.sqrt(lam), 3),
        "repeat_callers": row.repeat_callers,
        "repeat_addresses": row.repeat_addresses,
        "reviewed": row.reviewed,
        "satisfaction_rate": round(row.satisfied / row.reviewed, 4) if row.reviewed else None,
    }


async def monthly_series(
    repo: MetricsRepository,
    *,
    category: str,
    level: str,
    place: str | None,
    months: int,
    now: datetime,
    tz: str,
) -> list[dict[str, Any]]:
    """A topic's volume month by month (the latest ``months`` months, empty ones included)."""
    where = f"AND f.{level}_code = :place" if place else ""
    rows = await repo.fetch(
        f"""WITH months AS (
                SELECT generate_series(
                    date_trunc('month', :now AT TIME ZONE :tz) - make_interval(months => :back),
                    date_trunc('month', :now AT TIME ZONE :tz), interval '1 month') AS m
            ),
            counted AS (
                SELECT date_trunc('month', f.received_at AT TIME ZONE :tz) AS m, count(*) AS n
                FROM complaint_facts f
                WHERE f.received_at >= (date_trunc('month', :now AT TIME ZONE :tz)
                                        - make_interval(months => :back)) AT TIME ZONE :tz
                  AND f.category_code = :category {where}
                GROUP BY 1
            )
            SELECT to_char(months.m, 'YYYY-MM') AS month, COALESCE(counted.n, 0) AS count
            FROM months LEFT JOIN counted USING (m) ORDER BY months.m""",
        {"now": now, "tz": tz, "back": months - 1, "category": category, "place": place},
    )
    return [{"month": r.month, "count": r.count} for r in rows]
