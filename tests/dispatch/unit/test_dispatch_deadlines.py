"""Case deadlines on calendar time and on China's working-day calendar."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from jiesu_common.calendar import WorkingCalendar
from jiesu_dispatch.deadlines import (
    DEFAULT_POLICIES,
    RETURN_WINDOW,
    SLA_CLASSES,
    ClockPolicy,
    compute_deadlines,
)

SHANGHAI = timezone(timedelta(hours=8))
# Tuesday 2025-09-30, 10:00 in Shanghai: the eve of the 2025 National Day holiday.
EVE_OF_NATIONAL_DAY = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.mark.parametrize(
    ("sla_class", "accept", "contact", "resolve"),
    [
        ("emergency", timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=2)),
        ("utility", timedelta(hours=2), timedelta(hours=2), timedelta(hours=24)),
        ("general", timedelta(hours=2), timedelta(hours=24), timedelta(days=7)),
        ("complex", timedelta(hours=2), timedelta(hours=24), timedelta(days=15)),
    ],
)
def test_default_clocks_run_on_calendar_time(
    sla_class: str, accept: timedelta, contact: timedelta, resolve: timedelta
) -> None:
    deadlines = compute_deadlines(EVE_OF_NATIONAL_DAY, sla_class)
    assert deadlines.accept_by == EVE_OF_NATIONAL_DAY + accept
    assert deadlines.contact_by == EVE_OF_NATIONAL_DAY + contact
    assert deadlines.resolve_by == EVE_OF_NATIONAL_DAY + resolve
    assert deadlines.return_by == EVE_OF_NATIONAL_DAY + timedelta(hours=2)


def test_every_sla_class_has_a_default_policy() -> None:
    assert set(DEFAULT_POLICIES) == set(SLA_CLASSES)
    assert RETURN_WINDOW.total_seconds() == 2 * 3600


def test_deadlines_are_in_utc_whatever_the_input_zone() -> None:
    local = EVE_OF_NATIONAL_DAY.astimezone(SHANGHAI)
    deadlines = compute_deadlines(local, "utility")
    assert deadlines.resolve_by.utcoffset() == timedelta(0)
    assert deadlines.resolve_by == EVE_OF_NATIONAL_DAY + timedelta(hours=24)


def test_naive_assignment_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_deadlines(datetime(2025, 9, 30, 10, 0), "general")


def test_unknown_sla_class_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown sla_class"):
        compute_deadlines(EVE_OF_NATIONAL_DAY, "someday")


def test_explicit_policy_overrides_the_default() -> None:
    policy = ClockPolicy(timedelta(hours=1), timedelta(hours=3), timedelta(days=3))
    deadlines = compute_deadlines(EVE_OF_NATIONAL_DAY, "general", policy=policy)
    assert deadlines.accept_by == EVE_OF_NATIONAL_DAY + timedelta(hours=1)
    assert deadlines.resolve_by == EVE_OF_NATIONAL_DAY + timedelta(days=3)


@pytest.mark.parametrize("day", [date(2025, 10, d) for d in range(1, 9)])
def test_national_day_week_is_not_working_time(calendar: WorkingCalendar, day: date) -> None:
    assert not calendar.is_working_day(day)


@pytest.mark.parametrize("day", [date(2025, 9, 28), date(2025, 10, 11)])
def test_make_up_weekend_days_are_working_days(calendar: WorkingCalendar, day: date) -> None:
    assert day.weekday() >= 5
    assert calendar.is_working_day(day)


def test_ordinary_weekdays_and_weekends(calendar: WorkingCalendar) -> None:
    assert calendar.is_working_day(date(2025, 9, 30))
    assert not calendar.is_working_day(date(2025, 9, 27))


def test_one_working_day_before_the_holiday_lands_after_it(calendar: WorkingCalendar) -> None:
    assert calendar.add_working_days(EVE_OF_NATIONAL_DAY, 1) == datetime(
        2025, 10, 9, 2, 0, tzinfo=UTC
    )


def test_friday_plus_one_working_day_is_the_make_up_sunday(calendar: WorkingCalendar) -> None:
    friday_ten_am = datetime(2025, 9, 26, 2, 0, tzinfo=UTC)
    assert calendar.add_working_days(friday_ten_am, 1) == datetime(2025, 9, 28, 2, 0, tzinfo=UTC)


def test_working_days_are_counted_on_the_shanghai_date(calendar: WorkingCalendar) -> None:
    # Friday 17:00 UTC is already Saturday 01:00 in Shanghai, so the next working day is the
    # make-up Sunday 2025-09-28 (counting on the UTC date would land a day later).
    friday_late = datetime(2025, 9, 26, 17, 0, tzinfo=UTC)
    assert calendar.add_working_days(friday_late, 1) == datetime(2025, 9, 28, 1, 0, tzinfo=SHANGHAI)


def test_zero_working_days_is_the_start_itself(calendar: WorkingCalendar) -> None:
    assert calendar.add_working_days(EVE_OF_NATIONAL_DAY, 0) == EVE_OF_NATIONAL_DAY


def test_general_resolve_counts_seven_working_days_over_the_holiday(
    calendar: WorkingCalendar,
) -> None:
    deadlines = compute_deadlines(
        EVE_OF_NATIONAL_DAY, "general", calendar=calendar, working_days=True
    )
    # Oct 9, 10, 11 (make-up Saturday), 13, 14, 15, 16.
    assert deadlines.resolve_by == datetime(2025, 10, 16, 2, 0, tzinfo=UTC)
    assert deadlines.contact_by == EVE_OF_NATIONAL_DAY + timedelta(hours=24)


def test_complex_resolve_counts_fifteen_working_days(calendar: WorkingCalendar) -> None:
    deadlines = compute_deadlines(
        EVE_OF_NATIONAL_DAY, "complex", calendar=calendar, working_days=True
    )
    # Oct 9-11, 13-17, 20-24 is 13 working days; Oct 27 and 28 make 15.
    assert deadlines.resolve_by == datetime(2025, 10, 28, 2, 0, tzinfo=UTC)


def test_hour_based_clocks_ignore_working_days(calendar: WorkingCalendar) -> None:
    deadlines = compute_deadlines(
        EVE_OF_NATIONAL_DAY, "utility", calendar=calendar, working_days=True
    )
    assert deadlines.resolve_by == EVE_OF_NATIONAL_DAY + timedelta(hours=24)


def test_working_days_without_a_calendar_uses_the_chinese_one() -> None:
    deadlines = compute_deadlines(EVE_OF_NATIONAL_DAY, "general", working_days=True)
    assert deadlines.resolve_by == datetime(2025, 10, 16, 2, 0, tzinfo=UTC)


def test_an_override_replaces_only_the_clocks_it_names() -> None:
    from jiesu_dispatch.deadlines import with_override

    base = DEFAULT_POLICIES["complex"]
    longer = with_override(base, resolve_working_days=20)
    assert (longer.accept, longer.contact) == (base.accept, base.contact)
    assert longer.resolve_working_days == 20
    hourly = with_override(base, resolve_hours=72, accept_minutes=30)
    assert hourly.resolve == timedelta(hours=72) and hourly.resolve_working_days is None
    assert hourly.accept == timedelta(minutes=30)
