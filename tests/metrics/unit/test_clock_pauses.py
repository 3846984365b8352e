"""Paused clocks (挂起): nothing fires while paused; the pause moves the ladder later."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jiesu_common.calendar import WorkingCalendar
from jiesu_metrics.domain import (
    ClockState,
    Ladder,
    end_pause,
    fire,
    next_fire_at,
    outcome,
    start_pause,
)

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DEADLINE = START + timedelta(hours=10)
LADDER = Ladder(calendar=WorkingCalendar())
H = timedelta(hours=1)


def running(**changes: object) -> ClockState:
    base = ClockState(START, DEADLINE, None, None, None, None, None)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_an_open_ended_pause_never_fires_and_does_not_breach_past_its_deadline() -> None:
    paused = start_pause(running(), START + 2 * H, None)
    assert next_fire_at(paused, LADDER) is None
    assert fire(paused, DEADLINE + 5 * H, LADDER) == ([], paused)
    assert outcome(paused, DEADLINE + 5 * H) == "paused"


def test_resumed_by_action_the_deadline_moves_by_the_time_paused() -> None:
    paused = start_pause(running(), START + 2 * H, None)
    resumed = end_pause(paused, START + 5 * H)
    assert resumed.paused_at is None and resumed.effective_deadline == DEADLINE + 3 * H
    assert fire(resumed, DEADLINE + H, LADDER)[0] == ["warning"]  # was due at 8 h + 3 h
    fired, breached = fire(resumed, DEADLINE + 3 * H, LADDER)
    assert fired == ["breached", "reminder"] and outcome(breached, DEADLINE + 3 * H) == "breached"


def test_a_dated_pause_resumes_by_itself_at_its_date() -> None:
    paused = start_pause(running(warned_at=START + 8 * H), START + 9 * H, START + 12 * H)
    assert next_fire_at(paused, LADDER) == START + 12 * H
    fired, after = fire(paused, START + 12 * H, LADDER)
    assert fired == [] and after.paused_at is None and after.paused_s == 3 * 3600
    assert next_fire_at(after, LADDER) == DEADLINE + 3 * H
    assert fire(after, DEADLINE + 3 * H, LADDER)[0] == ["breached", "reminder"]


def test_a_dated_pause_ended_early_counts_only_until_then() -> None:
    paused = start_pause(running(), START + H, START + 9 * H)
    assert end_pause(paused, START + 2 * H).paused_s == 3600
    assert end_pause(paused, START + 20 * H).paused_s == 8 * 3600  # its date came first


def test_a_clock_stopped_before_the_pause_is_not_paused_and_pauses_do_not_stack() -> None:
    stopped = running(stopped_at=START + H)
    assert start_pause(stopped, START + 2 * H, None) == stopped
    paused = start_pause(running(), START + H, None)
    assert start_pause(paused, START + 3 * H, None) == paused


def test_stopped_while_paused_is_judged_by_the_deadline_moved_by_the_pause() -> None:
    paused = start_pause(running(), START + 9 * H, None)
    assert outcome(replace(paused, stopped_at=DEADLINE + 2 * H), DEADLINE + 3 * H) == "met"
