"""考核排名 and dispatch quality: per unit, street or district, with the rank a month before."""

from __future__ import annotations

from typing import Any

from jiesu_metrics.dashboard.figures import three_rates
from jiesu_metrics.dashboard.scope import Scope, Window
from jiesu_metrics.repository import MetricsRepository
from jiesu_metrics.settings import CompositeWeights

# Rates and the count each is a share of; "higher is better" unless listed in LOWER_IS_BETTER.
DENOMINATOR = {
    "response_rate": "reviewed",
    "resolution_rate": "reviewed",
    "satisfaction_rate": "reviewed",
    "composite": "reviewed",
    "reopen_rate": "reviewed",
    "on_time_resolve_rate": "resolve_decided",
    "return_rate": "assigned",
    "misroute_rate": "assigned",
}
LOWER_IS_BETTER = {"return_rate", "reopen_rate", "misroute_rate"}
# The grouping key per level, on the round (for units: the lead, or the returning unit).
_KEY = {"unit": "r.lead_unit_id", "street": "r.street_code", "district": "r.district_code"}


async def level_figures(
    repo: MetricsRepository,
    *,
    level: str,
    window: Window,
    scope: Scope,
    weights: CompositeWeights,
) -> dict[str, dict[str, Any]]:
    """Counts and rates per key for one period (reviews, rounds, returns, resolve clocks)."""
    key = _KEY[level]
    rows: dict[str, dict[str, Any]] = {}
    params = {"start": window.start, "end": window.end, **scope.params()}
    join = "JOIN rounds r ON r.complaint_id = {t}.complaint_id AND r.round = {t}.round"

    def entry(k: str) -> dict[str, Any]:
        return rows.setdefault(k, dict.fromkeys(_COUNTS, 0) | {"key": k})

    for r in await repo.fetch(
        f"""SELECT {key} AS key, count(*) AS reviewed,
               count(*) FILTER (WHERE rv.contacted) AS contacted,
               count(*) FILTER (WHERE rv.resolved) AS resolved,
               count(*) FILTER (WHERE rv.satisfaction <> 'dissatisfied') AS satisfied,
               count(*) FILTER (WHERE NOT rv.resolved OR rv.satisfaction = 'dissatisfied')
                 AS reopened
            FROM review_facts rv {join.format(t="rv")}
            WHERE rv.completed_at >= :start AND rv.completed_at < :end AND {key} IS NOT NULL
              {scope.on_rounds("r")}
            GROUP BY 1""",
        params,
    ):
        entry(r.key).update(r._mapping)
    for r in await repo.fetch(
        f"""SELECT {key} AS key, count(*) AS assigned FROM rounds r
            WHERE r.assigned_at >= :start AND r.assigned_at < :end AND {key} IS NOT NULL
              {scope.on_rounds("r")}
            GROUP BY 1""",
        params,
    ):
        entry(r.key)["assigned"] = r.assigned
    return_key = "rt.unit_id" if level == "unit" else key
    for r in await repo.fetch(
        f"""SELECT {return_key} AS key, count(*) AS returned,
               count(*) FILTER (WHERE rt.decision = 'approved') AS returns_approved
            FROM return_facts rt {join.format(t="rt")}
            WHERE rt.returned_at >= :start AND rt.returned_at < :end AND {return_key} IS NOT NULL
              {scope.on_rounds("r", "rt.unit_id")}
            GROUP BY 1""",
        params,
    ):
        entry(r.key).update(returned=r.returned, returns_approved=r.returns_approved)
    clock_key = "c.unit_id" if level == "unit" else key
    for r in await repo.fetch(
        f"""SELECT {clock_key} AS key,
               count(*) FILTER (WHERE c.stopped_at IS NOT NULL OR c.breached_at IS NOT NULL)
                 AS resolve_decided,
               count(*) FILTER (WHERE c.stopped_at <= COALESCE(c.extended_deadline, c.deadline))
                 AS resolve_on_time
            FROM clocks c {join.format(t="c")}
            WHERE c.clock = 'resolve' AND c.started_at >= :start AND c.started_at < :end
              AND {clock_key} IS NOT NULL {scope.on_rounds("r", "c.unit_id")}
            GROUP BY 1""",
        params,
    ):
        entry(r.key).update(resolve_decided=r.resolve_decided, resolve_on_time=r.resolve_on_time)
    for e in rows.values():
        e.update(with_rates(e, weights))
    return rows


_COUNTS = [
    "reviewed",
    "contacted",
    "resolved",
    "satisfied",
    "reopened",
    "assigned",
    "returned",
    "returns_approved",
    "resolve_decided",
    "resolve_on_time",
]


def with_rates(e: dict[str, Any], weights: CompositeWeights) -> dict[str, float | None]:
    """Every rate of one key's counts (None where the denominator is zero)."""
    rates = three_rates(e["reviewed"], e["contacted"], e["resolved"], e["satisfied"], weights)
    return {
        **rates,
        "reopen_rate": _share(e["reopened"], e["reviewed"]),
        "on_time_resolve_rate": _share(e["resolve_on_time"], e["resolve_decided"]),
        "return_rate": _share(e["returned"], e["assigned"]),
        "misroute_rate": _share(e["returns_approved"], e["assigned"]),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def rank(rows: dict[str, dict[str, Any]], metric: str, min_sample: int) -> dict[str, int]:
    """Competition ranks (1, 2, 2, 4) of keys whose sample reaches ``min_sample``."""
    sample = DENOMINATOR[metric]
    eligible = [
        (e[metric], k) for k, e in rows.items() if e[metric] is not None and e[sample] >= min_sample
    ]
    eligible.sort(key=lambda pair: (pair[0] if metric in LOWER_IS_BETTER else -pair[0], pair[1]))
    ranks: dict[str, int] = {}
    previous: float | None = None
    for position, (value, k) in enumerate(eligible, start=1):
        ranks[k] = ranks[eligible[position - 2][1]] if value == previous else position
        previous = value
    return ranks


async def ranking(
    repo: MetricsRepository,
    *,
    level: str,
    metric: str,
    min_sample: int,
    window: Window,
    previous: Window,
    scope: Scope,
    weights: CompositeWeights,
) -> list[dict[str, Any]]:
    """Rows ranked by ``metric`` with the previous period's rank and the change of rank."""
    now_rows = await level_figures(repo, level=level, window=window, scope=scope, weights=weights)
    before = await level_figures(repo, level=level, window=previous, scope=scope, weights=weights)
    ranks, previous_ranks = rank(now_rows, metric, min_sample), rank(before, metric, min_sample)
    items = []
    for k, e in now_rows.items():
        r, p = ranks.get(k), previous_ranks.get(k)
        items.append(
            {
                **e,
                "metric": metric,
                "value": e[metric],
                "sample": e[DENOMINATOR[metric]],
                "rank": r,
                "previous_rank": p,
                # Positive: moved up (a smaller rank number than before).
                "rank_change": None if r is None or p is None else p - r,
                "ranked": r is not None,
            }
        )
    items.sort(key=lambda i: (i["rank"] is None, i["rank"] or 0, -(i["sample"] or 0), i["key"]))
    return items


async def return_flows(
    repo: MetricsRepository, *, window: Window, scope: Scope
) -> list[dict[str, Any]]:
    """Approved returns: from the returning unit to the next round's lead, counted."""
    rows = await repo.fetch(
        f"""SELECT rt.unit_id AS source, r2.lead_unit_id AS target, count(*) AS n
            FROM return_facts rt
            JOIN rounds r ON r.complaint_id = rt.complaint_id AND r.round = rt.round
            JOIN rounds r2 ON r2.complaint_id = rt.complaint_id AND r2.round = rt.round + 1
            WHERE rt.decision = 'approved' AND rt.returned_at >= :start AND rt.returned_at < :end
              {scope.on_rounds("r", "rt.unit_id")}
            GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2""",
        {"start": window.start, "end": window.end, **scope.params()},
    )
    return [{"source": r.source, "target": r.target, "count": r.n} for r in rows]
