"""(category, place, channel) → lead unit, learned from the units that finally handled
closed complaints, backing off from the grid to the whole city where history is thin."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

LEVELS = ("grid", "community", "street", "district", "city")
ANY_CHANNEL = "*"
CITY = "*"


@dataclass(frozen=True)
class UnitParams:
    """How much history a place needs before its own answer counts."""

    min_support: int = 3

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class Place:
    """Where a complaint is, as codes of the jurisdiction levels (None when unknown)."""

    grid: str | None = None
    community: str | None = None
    street: str | None = None
    district: str | None = None

    def codes(self) -> list[tuple[str, str]]:
        """(level, code) from the narrowest known level out to the city."""
        known = [(level, getattr(self, level)) for level in LEVELS[:-1]]
        return [(lv, c) for lv, c in known if c] + [("city", CITY)]


@dataclass(frozen=True)
class UnitExample:
    """One closed case: its final category, place, channel and the unit that finished it."""

    category: str
    place: Place
    channel: str | None
    unit: str


@dataclass(frozen=True)
class UnitSuggestion:
    """The learned lead unit, with the level it was decided at and how sure history is."""

    unit: str
    share: float  # of the cases at that level that this unit finished
    support: int  # how many cases that level holds
    level: str


def _key(category: str, level: str, code: str, channel: str) -> str:
    return f"{category}\x1f{level}\x1f{code}\x1f{channel}"


class UnitModel:
    """Counts of final lead units per (category, level, place code, channel)."""

    def __init__(self, counts: Mapping[str, Counter[str]], params: UnitParams) -> None:
        self.counts = counts
        self.params = params

    @classmethod
    def fit(cls, examples: Iterable[UnitExample], params: UnitParams | None = None) -> UnitModel:
        """Count every example at every level of its place, with and without its channel."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for ex in examples:
            for level, code in ex.place.codes():
                counts[_key(ex.category, level, code, ANY_CHANNEL)][ex.unit] += 1
                if ex.channel:
                    counts[_key(ex.category, level, code, ex.channel)][ex.unit] += 1
        return cls(dict(counts), params or UnitParams())

    def suggest(self, category: str, place: Place, channel: str | None) -> UnitSuggestion | None:
        """The most frequent final lead at the narrowest level with enough history."""
        for level, code in place.codes():
            for ch in (channel, ANY_CHANNEL) if channel else (ANY_CHANNEL,):
                counter = self.counts.get(_key(category, level, code, ch))
                if not counter:
                    continue
                support = sum(counter.values())
                if support < self.params.min_support and level != "city":
                    continue
                unit, n = min(counter.items(), key=lambda kv: (-kv[1], kv[0]))
                return UnitSuggestion(unit, round(n / support, 4), support, level)
        return None

    def to_state(self) -> dict[str, Any]:
        """Flat arrays (keys, units, counts): compact in a skops artefact."""
        keys, units, ns = [], [], []
        for key, counter in self.counts.items():
            for unit, n in counter.items():
                keys.append(key)
                units.append(unit)
                ns.append(n)
        return {
            "format": 1,
            "params": self.params.as_dict(),
            "keys": np.array(keys, dtype=str),
            "units": np.array(units, dtype=str),
            "counts": np.array(ns, dtype=np.int64),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> UnitModel:
        """The model of a stored state."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for key, unit, n in zip(
            state["keys"].tolist(), state["units"].tolist(), state["counts"].tolist(), strict=True
        ):
            counts[key][unit] = n
        return cls(dict(counts), UnitParams(**state["params"]))


@dataclass(frozen=True)
class RuleHistory:
    """A routing rule's first assignments and how many the history overturned."""

    category: str
    scope: str
    lead: str
    assigned: int
    overturned: int
    finished_by: str  # the unit that most often finished what this rule assigned


def overturned_rules(
    examples: Iterable[tuple[Mapping[str, Any] | None, str | None, str | None]],
    *,
    min_cases: int = 5,
    min_rate: float = 0.5,
) -> list[RuleHistory]:
    """Rules whose automatic first assignments history keeps changing.

    Each example is (first rule, first lead, final lead); a rule is flagged when at least
    ``min_cases`` of its assignments closed and ``min_rate`` of them ended with another unit.
    """
    seen: dict[tuple[str, str, str], list[str | None]] = defaultdict(list)
    overturned: Counter[tuple[str, str, str]] = Counter()
    for rule, first, final in examples:
        if not rule or final is None:
            continue
        key = (str(rule.get("category")), str(rule.get("scope")), str(rule.get("lead")))
        seen[key].append(final)
        overturned[key] += first != final
    flagged = []
    for key, finals in sorted(seen.items()):
        n = len(finals)
        if n >= min_cases and overturned[key] / n >= min_rate:
            finisher = Counter(f for f in finals if f).most_common(1)
            flagged.append(
                RuleHistory(*key, n, overturned[key], finisher[0][0] if finisher else "")
            )
    return flagged
