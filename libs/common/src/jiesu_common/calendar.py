"""China's working-day calendar (weekends, public holidays, make-up working days)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DEFAULT_TZ = "Asia/Shanghai"
# Office hours of a working day (local time): the morning and the afternoon session.
OFFICE_HOURS: tuple[tuple[time, time], ...] = (
    (time(9, 0), time(12, 0)),
    (time(13, 30), time(17, 30)),
)
# China has kept UTC+8 without DST since 1991; used only when the OS has no tz database.
_SHANGHAI_FIXED = timezone(timedelta(hours=8), "CST")


class WorkingCalendar:
    """China's working days: weekends and public holidays off, make-up working days (调休) on."""

    def __init__(
        self, tz: str = DEFAULT_TZ, office_hours: tuple[tuple[time, time], ...] = OFFICE_HOURS
    ) -> None:
        self.tz = zone(tz)
        self.office_hours = office_hours
        # Years are filled in lazily by `holidays` as dates are asked about.
        self._holidays = holidays.country_holidays("CN")

    def is_working_day(self, d: date) -> bool:
        """True for an ordinary weekday that is not a holiday, or a make-up working day."""
        return bool(self._holidays.is_working_day(d))

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same local time of day on the `days`-th working day after start's local date."""
        require_aware(start)
        if days < 0:
            raise ValueError("days must not be negative")
        local = start.astimezone(self.tz)
        day = local.date()
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            remaining -= self.is_working_day(day)
        end = datetime.combine(day, local.time(), tzinfo=self.tz)
        return end.astimezone(start.tzinfo)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` of office time (working days, office hours) after start.

        Time outside office hours does not count: four working hours from 16:00 on a
        Friday end at 11:30 on the next working day (with 09:00–12:00, 13:30–17:30).
        """
        require_aware(start)
        if hours < 0:
            raise ValueError("hours must not be negative")
        remaining = timedelta(hours=hours)
        local = start.astimezone(self.tz)
        day = local.date()
        for _ in range(3660):  # ten years of days: more than any holiday run
            if self.is_working_day(day):
                for opens, closes in self.office_hours:
                    begin = max(local, datetime.combine(day, opens, tzinfo=self.tz))
                    end = datetime.combine(day, closes, tzinfo=self.tz)
                    if begin >= end:
                        continue
                    if remaining <= end - begin:
                        return (begin + remaining).astimezone(start.tzinfo)
                    remaining -= end - begin
            day += timedelta(days=1)
            local = datetime.combine(day, time(0, 0), tzinfo=self.tz)
        raise ValueError("no working hours found within ten years")


def zone(name: str) -> tzinfo:
    """The named time zone; Shanghai's fixed offset when the OS has no tz database."""
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        if name == DEFAULT_TZ:
            return _SHANGHAI_FIXED
        raise


def require_aware(moment: datetime) -> None:
    """Raise ValueError for a naive datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
