"""Scorecards (三率 and the rest) per unit, street or district for a month, in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jiesu_common.calendar import zone
from jiesu_metrics.misroutes import misroute_counts
from jiesu_metrics.repository import MetricsRepository
from jiesu_metrics.settings import CompositeWeights

# The grouping key of each fact table per level; street and district come from the round.
_KEYS = {
    "unit": {
        "rv": "rv.lead_unit_id",
        "r": "r.lead_unit_id",
        "rt": "rt.unit_id",
        "c": "c.unit_id",
        "pf": "pf.unit_id",
    },
    **{
        level: dict.fromkeys(("rv", "r", "rt", "c", "pf"), f"r.{level}_code")
        for level in ("street", "district")
    },
}
_JOIN = "LEFT JOIN rounds r ON r.complaint_id = {t}.complaint_id AND r.round = {t}.round"
# The deadline a stopped clock is judged by: moved by an extension and by its pauses (挂起),
# a pause still open when the clock stopped counting up to the stop (or to its own date).
_DEADLINE = (
    "(COALESCE(c.extended_deadline, c.deadline) + make_interval(secs => c.paused_s"
    " + CASE WHEN c.paused_at IS NOT NULL AND c.stopped_at > c.paused_at THEN extract(epoch FROM"
    " LEAST(c.stopped_at, COALESCE(c.pause_until, c.stopped_at)) - c.paused_at) ELSE 0 END))"
)
_LATE = f"(c.stopped_at > {_DEADLINE} OR (c.stopped_at IS NULL AND c.breached_at IS NOT NULL))"


# A month (YYYY-MM) between 1900 and 2199, as every period parameter takes it: year 0000 or
# 9999-12 would overflow the date arithmetic.
PERIOD_PATTERN = r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$"


@dataclass(frozen=True)
class Period:
    """A calendar month in the hotline's time zone."""

    label: str
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, label: str, tz: str) -> Period:
        """``YYYY-MM`` → the month's bounds; ValueError when malformed."""
        year, _, month = label.partition("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError("period must look like YYYY-MM")
        y, m = int(year), int(month)
        zone_info = zone(tz)
        start = datetime(y, m, 1, tzinfo=zone_info)
        end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=zone_info)
        return cls(label, start, end)


async def scorecard(
    repo: MetricsRepository, *, period: Period, level: str, weights: CompositeWeights
) -> dict[str, Any]:
    """Every key's counts and rates for the period, plus the platform's direct-answer rate."""
    keys = _KEYS[level]
    params = {"start": period.start, "end": period.end}
    rows: dict[str, dict[str, Any]] = {}

    def entry(key: str) -> dict[str, Any]:
        return rows.setdefault(key, _empty(key))

    for r in await repo.fetch(
        f"""SELECT {keys["rv"]} AS key, count(*) AS reviewed,
               sum(rv.contacted::int) AS contacted, sum(rv.resolved::int) AS resolved,
               sum((rv.satisfaction <> 'dissatisfied')::int) AS satisfied,
               sum((NOT rv.resolved OR rv.satisfaction = 'dissatisfied')::int) AS reopened
            FROM review_facts rv {_JOIN.format(t="rv")}
            WHERE rv.completed_at >= :start AND rv.completed_at < :end AND {keys["rv"]} IS NOT NULL
              AND r.proactive IS NULL
            GROUP BY 1""",
        params,
    ):
        entry(r.key).update(
            reviewed=r.reviewed,
            contacted=r.contacted,
            resolved=r.resolved,
            satisfied=r.satisfied,
            reopened=r.reopened,
        )
    for r in await repo.fetch(
        f"""SELECT {keys["r"]} AS key, count(*) AS assigned FROM rounds r
            WHERE r.assigned_at >= :start AND r.assigned_at < :end GROUP BY 1""",
        params,
    ):
        entry(r.key)["assigned"] = r.assigned
    for r in await repo.fetch(
        f"""SELECT {keys["rt"]} AS key, count(*) AS returned,
               sum((rt.decision = 'approved')::int) AS approved
            FROM return_facts rt {_JOIN.format(t="rt")}
            WHERE rt.returned_at >= :start AND rt.returned_at < :end AND {keys["rt"]} IS NOT NULL
            GROUP BY 1""",
        params,
    ):
        entry(r.key).update(returned=r.returned, returns_approved=r.approved or 0)
    # 错派: complaints closed in the month, against the unit (or place) of their first round.
    for key, (closed, misrouted) in (await misroute_counts(repo, by=level, params=params)).items():
        entry(key).update(first_assigned_closed=closed, misrouted=misrouted)
    await _collaboration(repo, level, params, entry)
    await _proactive(repo, keys, params, entry)
    for r in await repo.fetch(
        f"""SELECT {keys["c"]} AS key, c.clock, count(*) AS started,
               sum((c.stopped_at <= {_DEADLINE})::int) AS on_time,
               sum({_LATE}::int) AS late, sum((c.breached_at IS NOT NULL)::int) AS breached
            FROM clocks c {_JOIN.format(t="c")}
            WHERE c.started_at >= :start AND c.started_at < :end AND {keys["c"]} IS NOT NULL
            GROUP BY 1, 2""",
        params,
    ):
        e = entry(r.key)
        e[f"{r.clock}_on_time"] = r.on_time or 0
        e[f"{r.clock}_late"] = r.late or 0
        e["breaches"] += r.breached or 0
        if r.clock == "report_in":
            e["report_ins_due"] = r.started
    # Paused time (挂起) counts apart: pauses granted in the month and the hours they lasted
    # (a running one up to now).
    for r in await repo.fetch(
        f"""SELECT {keys["pf"]} AS key, count(*) AS paused,
               sum(extract(epoch FROM LEAST(COALESCE(pf.ended_at, 'infinity'),
                   COALESCE(pf.until, 'infinity'), now()) - pf.paused_at)) / 3600.0 AS hours
            FROM pause_facts pf {_JOIN.format(t="pf")}
            WHERE pf.paused_at >= :start AND pf.paused_at < :end AND {keys["pf"]} IS NOT NULL
            GROUP BY 1""",
        params,
    ):
        e = entry(r.key)
        e["pauses"] = r.paused
        e["paused_hours"] = round(max(float(r.hours or 0), 0.0), 2)
    items = [_with_rates(e, weights) for e in sorted(rows.values(), key=lambda e: e["key"])]
    platform = (
        await repo.fetch(
            """SELECT count(*) AS received, count(answered_at) AS answered,
                   count(*) FILTER (WHERE kind = 'inquiry') AS inquiries,
                   count(*) FILTER (WHERE proactive = 'hotspot') AS from_hotspots,
                   count(*) FILTER (WHERE proactive = 'patrol') AS from_patrols
               FROM complaint_facts WHERE received_at >= :start AND received_at < :end""",
            params,
        )
    )[0]
    return {
        "period": period.label,
        "level": level,
        "items": items,
        "platform": {
            "received": platform.received,
            "answered": platform.answered,
            "direct_answer_rate": _rate(platform.answered, platform.received),
            "inquiries": platform.inquiries,
            "proactive_from_hotspots": platform.from_hotspots,
            "proactive_from_patrols": platform.from_patrols,
            "articles": await _articles(repo, params, platform.inquiries),
        },
    }


async def _proactive(
    repo: MetricsRepository, keys: dict[str, str], params: dict[str, Any], entry: Any
) -> None:
    """Cases the city opened itself (未诉先办), counted apart from residents' requests."""
    for r in await repo.fetch(
        f"""SELECT {keys["r"]} AS key, count(*) AS assigned,
               count(*) FILTER (WHERE r.proactive = 'hotspot') AS from_hotspots
            FROM rounds r
            WHERE r.assigned_at >= :start AND r.assigned_at < :end AND r.proactive IS NOT NULL
            GROUP BY 1""",
        params,
    ):
        entry(r.key).update(
            proactive_assigned=r.assigned,
            proactive_from_hotspots=r.from_hotspots,
            proactive_from_patrols=r.assigned - r.from_hotspots,
        )
    for r in await repo.fetch(
        f"""SELECT {keys["rv"]} AS key, count(*) AS reviewed, sum(rv.resolved::int) AS resolved
            FROM review_facts rv {_JOIN.format(t="rv")}
            WHERE rv.completed_at >= :start AND rv.completed_at < :end AND {keys["rv"]} IS NOT NULL
              AND r.proactive IS NOT NULL
            GROUP BY 1""",
        params,
    ):
        entry(r.key).update(proactive_reviewed=r.reviewed, proactive_resolved=r.resolved)


async def _articles(
    repo: MetricsRepository, params: dict[str, Any], inquiries: int
) -> list[dict[str, Any]]:
    """Each article's direct answers in the month, their share of all inquiries, and how
    many of them the callback found unsolved or the resident dissatisfied (reopened)."""
    rows = await repo.fetch(
        """SELECT f.article_id,
               (array_agg(f.article_title ORDER BY f.article_version DESC))[1] AS title,
               max(f.article_version) AS latest_version, count(*) AS answered,
               count(rv.review_id) AS reviewed,
               count(rv.review_id) FILTER (WHERE NOT rv.resolved
                                           OR rv.satisfaction = 'dissatisfied') AS reopened
           FROM complaint_facts f
           LEFT JOIN review_facts rv ON rv.complaint_id = f.complaint_id AND rv.round = 1
           WHERE f.article_id IS NOT NULL AND f.answered_at >= :start AND f.answered_at < :end
           GROUP BY f.article_id ORDER BY answered DESC, f.article_id""",
        params,
    )
    return [
        {
            "article_id": r.article_id,
            "title": r.title,
            "latest_version": r.latest_version,
            "answered": r.answered,
            "direct_answer_rate": _rate(r.answered, inquiries),
            "reviewed": r.reviewed,
            "reopened": r.reopened,
            "reopen_rate": _rate(r.reopened, r.reviewed),
        }
        for r in rows
    ]


async def _collaboration(
    repo: MetricsRepository, level: str, params: dict[str, Any], entry: Any
) -> None:
    """Consultations per participant (or per place) and whistles per street office."""
    if level == "unit":
        source = (
            "consultation_facts cf"
            " CROSS JOIN LATERAL jsonb_array_elements_text(cf.participants) AS p(unit)"
        )
        key, whistle_key, joined = "p.unit", "wf.street_unit_id", ""
    else:
        source = f"consultation_facts cf {_JOIN.format(t='cf')}"
        key = whistle_key = f"r.{level}_code"
        joined = _JOIN.format(t="wf")
    for r in await repo.fetch(
        f"""SELECT {key} AS key, count(*) AS opened,
               sum((NOT COALESCE(cf.fallback, false) AND cf.decided_at <= cf.deadline)::int)
                 AS in_time,
               sum(COALESCE(cf.fallback, false)::int) AS fallen_back
            FROM {source}
            WHERE cf.opened_at >= :start AND cf.opened_at < :end AND {key} IS NOT NULL
            GROUP BY 1""",
        params,
    ):
        entry(r.key).update(
            consultations=r.opened,
            consultations_decided_in_time=r.in_time or 0,
            consultations_fallen_back=r.fallen_back or 0,
        )
    for r in await repo.fetch(
        f"""SELECT {whistle_key} AS key, count(*) AS blown FROM whistle_facts wf {joined}
            WHERE wf.blown_at >= :start AND wf.blown_at < :end AND {whistle_key} IS NOT NULL
            GROUP BY 1""",
        params,
    ):
        entry(r.key)["whistles_blown"] = r.blown


def _empty(key: str) -> dict[str, Any]:
    counts = (
        "reviewed contacted resolved satisfied reopened assigned returned returns_approved "
        "accept_on_time accept_late contact_on_time contact_late resolve_on_time resolve_late "
        "breaches consultations consultations_decided_in_time consultations_fallen_back "
        "whistles_blown report_ins_due report_in_on_time report_in_late proactive_assigned "
        "proactive_from_hotspots proactive_from_patrols proactive_reviewed proactive_resolved "
        "pauses first_assigned_closed misrouted"
    )
    return {"key": key, **dict.fromkeys(counts.split(), 0), "paused_hours": 0.0}


def _with_rates(e: dict[str, Any], w: CompositeWeights) -> dict[str, Any]:
    response = _rate(e["contacted"], e["reviewed"])
    resolution = _rate(e["resolved"], e["reviewed"])
    satisfaction = _rate(e["satisfied"], e["reviewed"])
    composite = (
        round(w.response * response + w.resolution * resolution + w.satisfaction * satisfaction, 4)
        if response is not None and resolution is not None and satisfaction is not None
        else None
    )
    return {
        **e,
        "response_rate": response,
        "resolution_rate": resolution,
        "satisfaction_rate": satisfaction,
        "composite": composite,
        "on_time_accept_rate": _rate(e["accept_on_time"], e["accept_on_time"] + e["accept_late"]),
        "on_time_resolve_rate": _rate(
            e["resolve_on_time"], e["resolve_on_time"] + e["resolve_late"]
        ),
        "return_rate": _rate(e["returned"], e["assigned"]),
        "reopen_rate": _rate(e["reopened"], e["reviewed"]),
        "misroute_rate": _rate(e["returns_approved"], e["assigned"]),
        "first_assignment_misroute_rate": _rate(e["misrouted"], e["first_assigned_closed"]),
        "on_time_report_in_rate": _rate(
            e["report_in_on_time"], e["report_in_on_time"] + e["report_in_late"]
        ),
        "proactive_resolution_rate": _rate(e["proactive_resolved"], e["proactive_reviewed"]),
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
