"""The map: a figure per street, community or grid, and weighted points for a heat map."""

from __future__ import annotations

from typing import Any

from jiesu_metrics.dashboard.figures import three_rates
from jiesu_metrics.dashboard.scope import Scope, Window
from jiesu_metrics.repository import MetricsRepository
from jiesu_metrics.settings import CompositeWeights

LEVELS = ("district", "street", "community", "grid")
MAP_METRICS = ("volume", "satisfaction_rate", "composite", "on_time_resolve_rate")


async def region_values(
    repo: MetricsRepository,
    *,
    level: str,
    metric: str,
    window: Window,
    scope: Scope,
    weights: CompositeWeights,
) -> list[dict[str, Any]]:
    """One value per place of ``level`` (with its sample) for the period."""
    column = f"f.{level}_code"
    params = {"start": window.start, "end": window.end, **scope.params()}
    if metric == "volume":
        rows = await repo.fetch(
            f"""SELECT {column} AS code, count(*) AS value, count(*) AS sample
                FROM complaint_facts f
                WHERE f.received_at >= :start AND f.received_at < :end AND {column} IS NOT NULL
                  {scope.on_facts("f")}
                GROUP BY 1 ORDER BY 1""",
            params,
        )
        return [{"code": r.code, "value": r.value, "sample": r.sample} for r in rows]
    if metric == "on_time_resolve_rate":
        rows = await repo.fetch(
            f"""SELECT {column} AS code,
                   count(*) FILTER (WHERE c.stopped_at <= COALESCE(c.extended_deadline, c.deadline))
                     AS part,
                   count(*) AS sample
                FROM clocks c JOIN complaint_facts f ON f.complaint_id = c.complaint_id
                WHERE c.clock = 'resolve' AND c.started_at >= :start AND c.started_at < :end
                  AND (c.stopped_at IS NOT NULL OR c.breached_at IS NOT NULL)
                  AND {column} IS NOT NULL {scope.on_facts("f")}
                GROUP BY 1 ORDER BY 1""",
            params,
        )
        return [
            {"code": r.code, "value": round(r.part / r.sample, 4), "sample": r.sample} for r in rows
        ]
    rows = await repo.fetch(
        f"""SELECT {column} AS code, count(*) AS reviewed,
               count(*) FILTER (WHERE rv.contacted) AS contacted,
               count(*) FILTER (WHERE rv.resolved) AS resolved,
               count(*) FILTER (WHERE rv.satisfaction <> 'dissatisfied') AS satisfied
            FROM review_facts rv JOIN complaint_facts f ON f.complaint_id = rv.complaint_id
            WHERE rv.completed_at >= :start AND rv.completed_at < :end AND {column} IS NOT NULL
              {scope.on_facts("f")}
            GROUP BY 1 ORDER BY 1""",
        params,
    )
    return [
        {
            "code": r.code,
            "value": three_rates(r.reviewed, r.contacted, r.resolved, r.satisfied, weights)[metric],
            "sample": r.reviewed,
        }
        for r in rows
    ]


async def heat_points(
    repo: MetricsRepository, *, window: Window, scope: Scope
) -> dict[str, list[dict[str, Any]]]:
    """Complaints with a position, binned to ~100 m; the rest counted per grid."""
    params = {"start": window.start, "end": window.end, **scope.params()}
    points = await repo.fetch(
        f"""SELECT round(f.lat::numeric, 3)::float AS lat, round(f.lon::numeric, 3)::float AS lon,
                   count(*) AS n
            FROM complaint_facts f
            WHERE f.received_at >= :start AND f.received_at < :end
              AND f.lat IS NOT NULL AND f.lon IS NOT NULL {scope.on_facts("f")}
            GROUP BY 1, 2""",
        params,
    )
    grids = await repo.fetch(
        f"""SELECT f.grid_code AS code, count(*) AS n FROM complaint_facts f
            WHERE f.received_at >= :start AND f.received_at < :end
              AND (f.lat IS NULL OR f.lon IS NULL) AND f.grid_code IS NOT NULL
              {scope.on_facts("f")}
            GROUP BY 1""",
        params,
    )
    return {
        "points": [{"lat": p.lat, "lon": p.lon, "count": p.n} for p in points],
        "grids": [{"code": g.code, "count": g.n} for g in grids],
    }
