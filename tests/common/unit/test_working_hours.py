"""Working-hours arithmetic of the calendar (consultation deadlines count office time only)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from jiesu_common.calendar import WorkingCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkingCalendar()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("start", "hours", "end"),
    [
        ("2026-11-23T10:00", 4, "2026-11-23T15:30"),  # Monday: across the lunch break
        ("2026-11-23T07:00", 1, "2026-11-23T10:00"),  # before the office opens
        ("2026-11-23T12:30", 1, "2026-11-23T14:30"),  # during lunch
        ("2026-11-23T16:00", 4, "2026-11-24T11:30"),  # the evening does not count
        ("2026-11-27T16:00", 4, "2026-11-30T11:30"),  # Friday → Monday, weekend skipped
        ("2026-11-28T10:00", 1, "2026-11-30T10:00"),  # asked on a Saturday
        ("2026-09-30T17:00", 1, "2026-10-08T09:30"),  # National Day holidays skipped
        ("2026-10-10T10:00", 1, "2026-10-10T11:00"),  # a make-up working Saturday counts
        ("2026-11-23T09:00", 7, "2026-11-23T17:30"),  # a whole working day is seven hours
        ("2026-11-23T09:00", 0.5, "2026-11-23T09:30"),
    ],
)
def test_working_hours_count_office_time_only(start: str, hours: float, end: str) -> None:
    assert CALENDAR.add_working_hours(at(start), hours) == at(end)


def test_working_hours_keep_the_callers_time_zone() -> None:
    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    end = CALENDAR.add_working_hours(start, 4)
    assert end.tzinfo is UTC and end == at("2026-11-23T15:30")


def test_working_hours_refuse_naive_or_negative_input() -> None:
    with pytest.raises(ValueError):
        CALENDAR.add_working_hours(datetime(2026, 11, 23, 10), 1)
    with pytest.raises(ValueError):
        CALENDAR.add_working_hours(at("2026-11-23T10:00"), -1)
