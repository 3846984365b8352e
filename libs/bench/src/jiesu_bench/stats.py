"""Percentiles and throughput summaries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Summary:
    """Latency of one stage, in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (NaN becomes None)."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }


def summarize(values_s: Sequence[float]) -> Summary:
    """Stage latencies given in seconds, summarised in milliseconds."""
    ms = sorted(v * 1000 for v in values_s)
    if not ms:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    return Summary(len(ms), percentile(ms, 50), percentile(ms, 95), percentile(ms, 99), ms[-1])


def sustained_rate(times: Sequence[float], *, trim: float = 0.1) -> float:
    """Completions per second over the middle of a run.

    The first and last ``trim`` of completions are left out, so a warm-up and a draining
    tail do not count; with fewer than 10 completions the whole span is used.
    """
    if len(times) < 2:
        return 0.0
    ordered = sorted(times)
    if len(ordered) >= 10:
        cut = int(len(ordered) * trim)
        ordered = ordered[cut : len(ordered) - cut]
    span = ordered[-1] - ordered[0]
    return (len(ordered) - 1) / span if span > 0 else 0.0
