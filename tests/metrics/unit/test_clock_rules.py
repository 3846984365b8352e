"""SLA clock rules: warning at 80 %, one breach, then the escalation ladder."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jiesu_common.calendar import WorkingCalendar
from jiesu_metrics.domain import ClockState, Ladder, fire, next_fire_at, outcome

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Beijing
DEADLINE = START + timedelta(hours=10)
LADDER = Ladder(calendar=WorkingCalendar())


def running(**changes: object) -> ClockState:
    base = ClockState(
        started_at=START,
        deadline=DEADLINE,
        extended_deadline=None,
        stopped_at=None,
        warned_at=None,
        breached_at=None,
        level=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_clock_first_wakes_at_eighty_percent() -> None:
    assert next_fire_at(running(), LADDER) == START + timedelta(hours=8)


def test_warning_then_breach_with_reminder_each_once() -> None:
    fired, state = fire(running(), START + timedelta(hours=8, minutes=1), LADDER)
    assert fired == ["warning"]
    assert next_fire_at(state, LADDER) == DEADLINE
    assert fire(state, START + timedelta(hours=9), LADDER)[0] == []
    fired, state = fire(state, DEADLINE, LADDER)
    assert fired == ["breached", "reminder"]
    assert fire(state, DEADLINE + timedelta(minutes=5), LADDER)[0] == []


def test_supervision_one_working_day_and_notice_five_working_days_after_the_deadline() -> None:
    _, state = fire(running(), DEADLINE, LADDER)
    supervision_at = next_fire_at(state, LADDER)
    assert supervision_at == DEADLINE + timedelta(days=1)  # Tuesday is a working day
    fired, state = fire(state, supervision_at, LADDER)  # type: ignore[arg-type]
    assert fired == ["supervision"]
    notice_at = next_fire_at(state, LADDER)
    # Monday + 5 working days is the next Monday (the weekend is skipped).
    assert notice_at == DEADLINE + timedelta(days=7)
    fired, state = fire(state, notice_at, LADDER)  # type: ignore[arg-type]
    assert fired == ["notice"]
    assert next_fire_at(state, LADDER) is None


def test_a_clock_seen_only_after_its_deadline_breaches_once_without_a_stale_warning() -> None:
    fired, state = fire(running(), DEADLINE + timedelta(hours=1), LADDER)
    assert fired == ["breached", "reminder"]
    assert state.warned_at is not None


def test_a_clock_seen_days_late_catches_up_every_rung_due() -> None:
    fired, _ = fire(running(), DEADLINE + timedelta(days=10), LADDER)
    assert fired == ["breached", "reminder", "supervision", "notice"]


def test_a_stopped_clock_never_fires() -> None:
    stopped = running(stopped_at=START + timedelta(hours=1))
    assert next_fire_at(stopped, LADDER) is None
    assert fire(stopped, DEADLINE + timedelta(days=3), LADDER)[0] == []
    assert outcome(stopped, DEADLINE) == "met"
    assert outcome(running(stopped_at=DEADLINE + timedelta(minutes=1)), DEADLINE) == "late"


def test_an_extension_moves_the_breach() -> None:
    extended = running(extended_deadline=DEADLINE + timedelta(days=2), warned_at=START)
    assert next_fire_at(extended, LADDER) == DEADLINE + timedelta(days=2)
    assert fire(extended, DEADLINE + timedelta(hours=1), LADDER)[0] == []


def test_a_clock_without_its_assignment_yet_waits() -> None:
    assert next_fire_at(running(deadline=None, started_at=None), LADDER) is None
    assert outcome(running(deadline=None), START) == "pending"
