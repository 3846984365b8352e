"""Repeated warnings are summarised, not written once per retry."""

import logging

import pytest

from jiesu_common.logging import RepeatLimiter


def _record(msg: str, level: int = logging.WARNING, name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, ("x",), None)


def test_the_same_warning_passes_twice_a_window_then_reports_how_many_were_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr("jiesu_common.logging.time.monotonic", lambda: now[0])
    limiter = RepeatLimiter(window_s=60, burst=2)
    passed = [limiter.filter(_record("Unable connect to node %s")) for _ in range(500)]
    assert passed.count(True) == 2
    now[0] += 61
    summary = _record("Unable connect to node %s")
    assert limiter.filter(summary)
    assert getattr(summary, "repeated", None) == 498


def test_different_warnings_and_information_lines_are_not_limited() -> None:
    limiter = RepeatLimiter(window_s=60, burst=1)
    assert all(limiter.filter(_record(f"message {n}")) for n in range(50))
    assert all(limiter.filter(_record("complaint filed", logging.INFO)) for _ in range(50))
