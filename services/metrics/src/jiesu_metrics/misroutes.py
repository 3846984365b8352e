"""Misroutes (错派): complaints closed in a month whose first lead unit did not close them.

A complaint counts once, in the month the review closed it, against the lead unit of its
first round (the routing that went wrong) and under the category of the round it closed in
(what it turned out to be, as dispatch's learning history keeps it). Whatever moved it —
an approved return, a centre reassignment, a consultation, a reopen sent elsewhere — it is a
misroute when the first round's lead differs from the closing round's.

Computed from the rounds and the close at read time, so redelivered events (which insert a
round once and keep a close's first values) can never count a complaint twice.
"""

from __future__ import annotations

from typing import Any

from jiesu_metrics.repository import MetricsRepository

# The units shown as having finally taken over a key's misroutes, most frequent first.
TAKEOVERS_SHOWN = 3

# One row per complaint closed in [start, end) with its first and closing rounds known; a
# close seen before its round's assignment waits for it. Facts closed before the closing
# round was kept (migration 0009) fall back to the last round known.
CLOSED = """
    SELECT f.complaint_id, fr.lead_unit_id AS first_lead, fr.street_code, fr.district_code,
           cr.lead_unit_id AS closing_lead, cr.category_code AS category,
           fr.lead_unit_id <> cr.lead_unit_id AS misrouted
    FROM complaint_facts f
    JOIN LATERAL (SELECT * FROM rounds r WHERE r.complaint_id = f.complaint_id
                  ORDER BY r.round LIMIT 1) fr ON true
    JOIN LATERAL (SELECT * FROM rounds r WHERE r.complaint_id = f.complaint_id
                    AND (f.closed_round IS NULL OR r.round = f.closed_round)
                  ORDER BY r.round DESC LIMIT 1) cr ON true
    WHERE f.closed_at >= :start AND f.closed_at < :end
"""
# The grouping column of CLOSED per scorecard level or report key.
KEYS = {
    "unit": "m.first_lead",
    "street": "m.street_code",
    "district": "m.district_code",
    "category": "m.category",
}


async def misroute_counts(
    repo: MetricsRepository, *, by: str, params: dict[str, Any]
) -> dict[str, tuple[int, int]]:
    """Key → (closed, misrouted) over the complaints closed in the period."""
    key = KEYS[by]
    rows = await repo.fetch(
        f"""SELECT {key} AS key, count(*) AS closed, count(*) FILTER (WHERE m.misrouted) AS bad
            FROM ({CLOSED}) m WHERE {key} IS NOT NULL GROUP BY 1""",
        params,
    )
    return {r.key: (r.closed, r.bad) for r in rows}


async def misroute_report(repo: MetricsRepository, *, by: str, params: dict[str, Any]) -> Any:
    """Per key: closed, misrouted, rate and the units that finally took them; most
    misrouted first, then the totals (one pass over the month's closed complaints)."""
    counts: dict[str, list[int]] = {}
    takeovers: dict[str, list[tuple[int, str]]] = {}
    for r in await repo.fetch(
        f"""SELECT {KEYS[by]} AS key, m.closing_lead, m.misrouted, count(*) AS closed
            FROM ({CLOSED}) m WHERE {KEYS[by]} IS NOT NULL GROUP BY 1, 2, 3""",
        params,
    ):
        closed_bad = counts.setdefault(r.key, [0, 0])
        closed_bad[0] += r.closed
        if r.misrouted:
            closed_bad[1] += r.closed
            takeovers.setdefault(r.key, []).append((-r.closed, r.closing_lead))
    items = [
        {
            "key": key,
            "closed": closed,
            "misrouted": bad,
            "misroute_rate": misroute_rate(bad, closed),
            "taken_over_by": [
                {"unit_id": unit, "closed": -n}
                for n, unit in sorted(takeovers.get(key, []))[:TAKEOVERS_SHOWN]
            ],
        }
        for key, (closed, bad) in sorted(counts.items(), key=lambda kv: (-kv[1][1], kv[0]))
    ]
    closed = sum(c for c, _ in counts.values())
    bad = sum(b for _, b in counts.values())
    return {
        "items": items,
        "closed": closed,
        "misrouted": bad,
        "misroute_rate": misroute_rate(bad, closed),
    }


def misroute_rate(misrouted: int, closed: int) -> float | None:
    """Misrouted ÷ closed, None without a closed complaint."""
    return round(misrouted / closed, 4) if closed else None
