"""Case deadlines from the assignment time (DESIGN §6), optionally on working days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jiesu_common.calendar import WorkingCalendar, require_aware

SLA_CLASSES = ("emergency", "utility", "general", "complex")
RETURN_WINDOW = timedelta(hours=2)


@dataclass(frozen=True)
class ClockPolicy:
    accept: timedelta
    contact: timedelta
    resolve: timedelta
    # For day-based clocks: count this many working days instead of `resolve`.
    resolve_working_days: int | None = None


DEFAULT_POLICIES: dict[str, ClockPolicy] = {
    "emergency": ClockPolicy(timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=2)),
    "utility": ClockPolicy(timedelta(hours=2), timedelta(hours=2), timedelta(hours=24)),
    "general": ClockPolicy(timedelta(hours=2), timedelta(hours=24), timedelta(days=7), 7),
    "complex": ClockPolicy(timedelta(hours=2), timedelta(hours=24), timedelta(days=15), 15),
}


def with_override(
    policy: ClockPolicy,
    *,
    accept_minutes: int | None = None,
    contact_minutes: int | None = None,
    resolve_hours: int | None = None,
    resolve_working_days: int | None = None,
) -> ClockPolicy:
    """A policy with some clocks replaced; an hour-based resolve clock drops the day count."""
    return ClockPolicy(
        accept=timedelta(minutes=accept_minutes) if accept_minutes else policy.accept,
        contact=timedelta(minutes=contact_minutes) if contact_minutes else policy.contact,
        resolve=timedelta(hours=resolve_hours) if resolve_hours else policy.resolve,
        resolve_working_days=resolve_working_days
        or (None if resolve_hours else policy.resolve_working_days),
    )


@dataclass(frozen=True)
class Deadlines:
    accept_by: datetime
    contact_by: datetime
    resolve_by: datetime
    return_by: datetime


def compute_deadlines(
    assigned_at: datetime,
    sla_class: str,
    *,
    policy: ClockPolicy | None = None,
    calendar: WorkingCalendar | None = None,
    working_days: bool = False,
) -> Deadlines:
    """Accept, contact, resolve and return deadlines (UTC) for a case assigned at assigned_at."""
    require_aware(assigned_at)
    policy = policy or default_policy(sla_class)
    start = assigned_at.astimezone(UTC)
    return Deadlines(
        accept_by=start + policy.accept,
        contact_by=start + policy.contact,
        resolve_by=_resolve_by(start, policy, calendar, working_days),
        return_by=start + RETURN_WINDOW,
    )


def default_policy(sla_class: str) -> ClockPolicy:
    """The DESIGN §6 default clocks for an SLA class; ValueError for an unknown class."""
    try:
        return DEFAULT_POLICIES[sla_class]
    except KeyError:
        raise ValueError(
            f"unknown sla_class {sla_class!r}, expected one of {SLA_CLASSES}"
        ) from None


def _resolve_by(
    start: datetime, policy: ClockPolicy, calendar: WorkingCalendar | None, working_days: bool
) -> datetime:
    # Hour-based clocks (emergency, utility) always run on calendar time.
    if not working_days or policy.resolve_working_days is None:
        return start + policy.resolve
    calendar = calendar or WorkingCalendar()
    return calendar.add_working_days(start, policy.resolve_working_days).astimezone(UTC)
