"""The benchmark's pure parts: schedules, replay, stories, percentiles, rates, targets."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from jiesu_bench.report import targets
from jiesu_bench.stats import percentile, summarize, sustained_rate
from jiesu_bench.workload import (
    FALLBACK_CATEGORIES,
    NORMAL,
    REOPEN,
    RETURN,
    expected_reviews,
    expected_rounds,
    map_category,
    open_loop,
    plans,
    rate_steps,
    replay,
)

CSV = """source,request_id,created,closed,category,subcategory,agency,status,channel,lat,lon,address,description
A,1,2020-01-01 10:00:00,,Noise - Residential,,,,,,,,
A,2,2020-01-01 10:00:10,,Bulky Items,,,,,,,,
A,3,2020-01-01 10:00:40,,General Request - MTA,,,,,,,,
B,9,2019-06-01 08:00:05,,Street Light Condition,,,,,,,,
B,8,2019-06-01 08:00:00,,,,,,,,,,
B,7,not a time,,Graffiti Removal,,,,,,,,
"""


def test_open_loop_arrivals_are_evenly_spaced_whatever_the_answers() -> None:
    arrivals = open_loop(200, 2.0)
    assert len(arrivals) == 400
    gaps = {round(b.at - a.at, 9) for a, b in itertools.pairwise(arrivals)}
    assert gaps == {0.005}


def test_replay_keeps_the_files_time_gaps_compressed_and_maps_categories(tmp_path: Path) -> None:
    path = tmp_path / "replay.csv"
    path.write_text(CSV, encoding="utf-8")
    arrivals = replay(path, speedup=10)
    # Each source starts at 0; a row without a time is skipped; a row without a type is "Other".
    assert [round(a.at, 3) for a in arrivals] == [0.0, 0.0, 0.5, 1.0, 4.0]
    by_type = {a.source_type: a.category_code for a in arrivals}
    assert by_type["Noise - Residential"] == "ENV-NOISE"
    assert by_type["Bulky Items"] == "CITY-GARBAGE"
    assert by_type["General Request - MTA"] == "TRANSIT-BUS"
    assert by_type["Street Light Condition"] == "CITY-STREETLIGHT"
    assert by_type["Other"] in FALLBACK_CATEGORIES
    assert len(replay(path, speedup=10, limit=2)) == 2
    with pytest.raises(ValueError):
        replay(path, speedup=0)


def test_unknown_request_types_map_stably() -> None:
    assert map_category("Something Unheard Of") == map_category("something unheard of")
    assert map_category("Something Unheard Of") in FALLBACK_CATEGORIES


def test_plans_hold_the_asked_fractions_and_their_expected_effects() -> None:
    stories = plans(200, returns=0.05, reopens=0.1)
    assert stories.count(RETURN) == 10 and stories.count(REOPEN) == 20
    assert stories.count(NORMAL) == 170
    assert plans(200, returns=0.05, reopens=0.1) == stories  # seeded: repeatable
    assert [expected_rounds(p) for p in (NORMAL, RETURN, REOPEN)] == [1, 2, 2]
    assert [expected_reviews(p) for p in (NORMAL, RETURN, REOPEN)] == [1, 1, 2]
    with pytest.raises(ValueError):
        plans(10, returns=0.7, reopens=0.5)


def test_rate_steps_reject_nonsense() -> None:
    assert list(rate_steps("50, 100,2000")) == [50, 100, 2000]
    for bad in ("", "0,10", "-5"):
        with pytest.raises(ValueError):
            rate_steps(bad)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert math.isnan(percentile([], 50))
    s = summarize([0.001, 0.002, 0.003])
    assert (s.count, s.p50, s.max) == (3, 2.0, 3.0)
    assert summarize([]).as_dict()["p99"] is None


def test_sustained_rate_leaves_out_warm_up_and_tail() -> None:
    steady = [i / 100 for i in range(100)]  # 100/s
    assert sustained_rate(steady) == pytest.approx(100, rel=0.01)
    # A slow start and a long tail do not drag the middle down.
    assert sustained_rate([-50.0] * 5 + steady + [500.0] * 5) == pytest.approx(100, rel=0.05)
    assert sustained_rate([1.0]) == 0.0


def _step(rate: float, p99: float, throughput: dict[str, float]) -> dict[str, object]:
    stage = {"count": 1, "p50": 1.0, "p95": 1.0, "p99": p99, "max": 1.0}
    return {
        "offered_rate": rate,
        "saturated": False,
        "stages": {"intake API": stage, "filing → assigned": stage},
        "throughput": throughput,
    }


def test_targets_are_judged_on_the_measured_figures() -> None:
    processes = {
        "intake": {
            "rss_peak_mb": 150.0,
            "rss_first_mb": 100.0,
            "rss_last_mb": 101.0,
            "cpu_ms_per_complaint": 3.0,
        },
        "broker": {
            "rss_peak_mb": 30.0,
            "rss_first_mb": 30.0,
            "rss_last_mb": 30.0,
            "cpu_ms_per_complaint": 2.5,
        },
        "bench": {
            "rss_peak_mb": 90.0,
            "rss_first_mb": 90.0,
            "rss_last_mb": 90.0,
            "cpu_ms_per_complaint": 50.0,
        },
    }
    idle = {"streams": 26, "platform_pct_of_one_core": 14.0, "cpu_pct": {"bench": 5.0}}
    assigned = {
        "meta": {"mode": "open-loop, until assigned"},
        "steps": [_step(100, 80.0, {"filing → assigned": 320.0})],
        "processes": processes,
        "idle": idle,
    }
    verdict = {t["target"]: t["met"] for t in targets(assigned)}
    assert verdict["CPU-ms per complaint filed and assigned"] is True  # 5.5, the bench left out
    assert verdict["filing → assigned sustained (/s)"] is True
    assert verdict["filing → assigned p99 at 100/s (ms)"] is True
    assert verdict["idle, 26 SSE streams open (% of one core)"] is True  # 9.0 without the bench
    assert verdict["largest service RSS (MB)"] is True
    closed = {
        "meta": {"mode": "open-loop"},
        "steps": [_step(50, 70.0, {"full cycle": 40.0})],
        "processes": processes,
    }
    verdict = {t["target"]: t["met"] for t in targets(closed)}
    assert verdict["CPU-ms per closed complaint"] is True
    assert verdict["all five steps sustained (/s)"] is False
    assert verdict["intake API p99 at 50/s, five steps (ms)"] is False


def test_observed_times_are_the_events_own() -> None:
    from jiesu_bench.observe import event_time

    event = {"time": "2026-12-02T01:00:00.250000+00:00"}
    assert event_time(event, received=9e9) == 1796173200.25
    assert event_time({"time": "not a time"}, received=12.5) == 12.5
    assert event_time({}, received=7.0) == 7.0
