"""China's working-day calendar (weekends, public holidays, make-up working days)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DEFAULT_TZ = "Asia/Shanghai"
# China has kept UTC+8 without DST since 1991; used only when the OS has no tz database.
_SHANGHAI_FIXED = timezone(timedelta(hours=8), "CST")


class WorkingCalendar:
    """China's working days: weekends and public holidays off, make-up working days (调休) on."""

    def __init__(self, tz: str = DEFAULT_TZ) -> None:
        self.tz = zone(tz)
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
