"""What the benchmark files and when: open-loop schedules, replay from a CSV, per-complaint plans.

Pure functions: no I/O beyond reading the replay file, so they are unit-tested directly.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# What a simulated unit or reviewer does with a complaint.
NORMAL = "normal"  # accept, contact, resolve; the resident is satisfied
RETURN = "return"  # the first lead returns it; the centre approves; the next unit handles it
REOPEN = "reopen"  # the resident is dissatisfied at the first review; round 2 closes it
ASSIGN_ONLY = "assigned"  # `--until assigned`: nobody acts; the story ends at the assignment

# US 311 request types → the demo city's categories, first keyword that matches wins.
# Only categories whose seeded rules route every located complaint to exactly one unit.
CATEGORY_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("noise", "ENV-NOISE"),
    ("sewer", "SEWER-BLOCK"),
    ("heat", "UTIL-HEATING"),
    ("hot water", "UTIL-HEATING"),
    ("water", "UTIL-WATER-LEAK"),
    ("street light", "CITY-STREETLIGHT"),
    ("traffic signal", "TRAFFIC-SIGNAL"),
    ("parking", "TRAFFIC-PARKING"),
    ("driveway", "TRAFFIC-PARKING"),
    ("vehicle", "TRAFFIC-PARKING"),
    ("muni", "TRANSIT-BUS"),
    ("mta", "TRANSIT-BUS"),
    ("street condition", "ROAD-DAMAGE"),
    ("sidewalk", "ROAD-DAMAGE"),
    ("pothole", "ROAD-DAMAGE"),
    ("dead animal", "ANIMAL-STRAY"),
    ("animal", "ANIMAL-STRAY"),
    ("tree", "PARK-GREEN"),
    ("plumbing", "HOUSE-REPAIR"),
    ("unsanitary", "HOUSE-REPAIR"),
    ("sfha", "HOUSE-PROPERTY"),
    ("food", "MARKET-FOOD"),
    ("bulky", "CITY-GARBAGE"),
    ("appliance", "CITY-GARBAGE"),
    ("waste", "CITY-GARBAGE"),
    ("dumping", "CITY-GARBAGE"),
    ("collection", "CITY-GARBAGE"),
    ("graffiti", "CITY-GARBAGE"),
    ("dirty", "CITY-GARBAGE"),
    ("encampment", "CITY-VENDING"),
    ("vend", "CITY-VENDING"),
)
# Request types with no keyword (general requests, "Other") spread over these.
FALLBACK_CATEGORIES: tuple[str, ...] = (
    "ROAD-DAMAGE",
    "TRAFFIC-SIGNAL",
    "LABOR-WAGE",
    "HEALTH-MEDICAL",
    "ENV-NOISE",
)


@dataclass(frozen=True)
class Arrival:
    """One complaint to file ``at`` seconds after the start of its step."""

    at: float
    category_code: str
    source_type: str = ""  # the replayed request type, for the report


def map_category(request_type: str) -> str:
    """A US 311 request type as a demo-city category (stable across runs)."""
    lowered = request_type.lower()
    for keyword, code in CATEGORY_KEYWORDS:
        if keyword in lowered:
            return code
    digest = hashlib.sha256(lowered.encode()).digest()
    return FALLBACK_CATEGORIES[digest[0] % len(FALLBACK_CATEGORIES)]


def open_loop(rate: float, seconds: float) -> list[Arrival]:
    """Arrivals at a fixed rate: the i-th at i/rate, whatever the answers' speed."""
    count = max(1, round(rate * seconds))
    return [
        Arrival(at=i / rate, category_code=FALLBACK_CATEGORIES[i % len(FALLBACK_CATEGORIES)])
        for i in range(count)
    ]


def parse_created(value: str) -> datetime:
    """The replay file's ``created`` column (``YYYY-MM-DD HH:MM:SS``, ISO accepted too)."""
    return datetime.fromisoformat(value.strip().replace("T", " "))


def replay(path: Path, *, speedup: float, limit: int | None = None) -> list[Arrival]:
    """Arrivals from a CSV of real requests: its time gaps divided by ``speedup``.

    The file is sorted by source, then time; each source's requests are replayed from the
    same start, interleaved, so a multi-city file plays as one busier city.
    """
    if speedup <= 0:
        raise ValueError("speedup must be positive")
    rows = list(_replay_rows(path))
    by_source: dict[str, list[tuple[datetime, str]]] = {}
    for source, created, request_type in rows:
        by_source.setdefault(source, []).append((created, request_type))
    arrivals: list[Arrival] = []
    for entries in by_source.values():
        entries.sort(key=lambda e: e[0])
        start = entries[0][0]
        arrivals.extend(
            Arrival(
                at=(created - start).total_seconds() / speedup,
                category_code=map_category(request_type),
                source_type=request_type,
            )
            for created, request_type in entries
        )
    arrivals.sort(key=lambda a: a.at)
    return arrivals[:limit] if limit is not None else arrivals


def _replay_rows(path: Path) -> Iterator[tuple[str, datetime, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            created = (row.get("created") or "").strip()
            if not created:
                continue
            try:
                when = parse_created(created)
            except ValueError:
                continue
            kind = (row.get("category") or "").strip() or (row.get("subcategory") or "").strip()
            yield (row.get("source") or "", when, kind or "Other")


def plans(
    count: int, *, returns: float, reopens: float, seed: int = 12345, until: str = "closed"
) -> list[str]:
    """What each complaint's story is: a fixed fraction returned, another reopened."""
    if until == "assigned":
        return [ASSIGN_ONLY] * count
    if returns < 0 or reopens < 0 or returns + reopens > 1:
        raise ValueError("return and reopen fractions must be ≥ 0 and add up to ≤ 1")
    n_return, n_reopen = round(count * returns), round(count * reopens)
    out = [RETURN] * n_return + [REOPEN] * n_reopen + [NORMAL] * (count - n_return - n_reopen)
    random.Random(seed).shuffle(out)
    return out


def expected_rounds(plan: str) -> int:
    """Assignment rounds a complaint of this plan goes through."""
    return 1 if plan in (NORMAL, ASSIGN_ONLY) else 2


def expected_reviews(plan: str) -> int:
    """Completed reviews a complaint of this plan gets (a return is never reviewed)."""
    return {REOPEN: 2, ASSIGN_ONLY: 0}.get(plan, 1)


def final_status(plan: str) -> str:
    """Where the complaint's status ends in intake."""
    return "assigned" if plan == ASSIGN_ONLY else "closed"


def category_mix(arrivals: Iterable[Arrival]) -> dict[str, int]:
    """How many arrivals each category got (for the report)."""
    mix: dict[str, int] = {}
    for arrival in arrivals:
        mix[arrival.category_code] = mix.get(arrival.category_code, 0) + 1
    return dict(sorted(mix.items(), key=lambda kv: -kv[1]))


def rate_steps(spec: str) -> Sequence[float]:
    """``"50,100,200"`` → rates; every one must be positive."""
    rates = [float(part) for part in spec.split(",") if part.strip()]
    if not rates or any(r <= 0 for r in rates):
        raise ValueError(f"bad rate list: {spec!r}")
    return rates
