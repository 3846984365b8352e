"""What a dashboard view is filtered to (place, unit, category) and over which time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jiesu_common.calendar import zone


@dataclass(frozen=True)
class Scope:
    """Filters every view shares; each becomes a bound SQL condition."""

    district: str | None = None
    street: str | None = None
    unit: str | None = None
    category: str | None = None
    community: str | None = None
    grid: str | None = None

    def params(self) -> dict[str, Any]:
        """The bound values of the conditions below."""
        return {f"scope_{k}": v for k, v in vars(self).items() if v is not None}

    def on_facts(self, f: str = "f") -> str:
        """Conditions on a ``complaint_facts`` alias (the unit: any round it led)."""
        parts = [
            f"{f}.{column}_code = :scope_{name}"
            for name, column in _PLACE_COLUMNS
            if getattr(self, name) is not None
        ]
        if self.unit is not None:
            parts.append(
                "EXISTS (SELECT 1 FROM rounds ru WHERE ru.complaint_id = "
                f"{f}.complaint_id AND ru.lead_unit_id = :scope_unit)"
            )
        return _and(parts)

    def on_rounds(self, r: str = "r", unit_column: str | None = None) -> str:
        """Conditions on a ``rounds`` alias (``unit_column``: whose unit, default the lead)."""
        parts = [
            f"{r}.{column}_code = :scope_{name}"
            for name, column in _PLACE_COLUMNS
            if getattr(self, name) is not None and name in ("district", "street", "category")
        ]
        if self.community is not None or self.grid is not None:
            parts.append(
                "EXISTS (SELECT 1 FROM complaint_facts fs WHERE fs.complaint_id = "
                f"{r}.complaint_id{_place_of('fs', self)})"
            )
        if self.unit is not None:
            parts.append(f"{unit_column or r + '.lead_unit_id'} = :scope_unit")
        return _and(parts)


_PLACE_COLUMNS = (
    ("district", "district"),
    ("street", "street"),
    ("community", "community"),
    ("grid", "grid"),
    ("category", "category"),
)


def _place_of(alias: str, scope: Scope) -> str:
    return "".join(
        f" AND {alias}.{name}_code = :scope_{name}"
        for name in ("community", "grid")
        if getattr(scope, name) is not None
    )


def _and(parts: list[str]) -> str:
    return "".join(f" AND {p}" for p in parts)


@dataclass(frozen=True)
class Window:
    """A half-open time range [start, end)."""

    start: datetime
    end: datetime
    label: str = ""
    params: dict[str, Any] = field(default_factory=dict, compare=False)


def month_bounds(label: str, tz: str) -> Window:
    """``YYYY-MM`` → that month in the hotline's time zone."""
    year, _, month = label.partition("-")
    y, m = int(year), int(month)
    z = zone(tz)
    start = datetime(y, m, 1, tzinfo=z)
    return Window(start, datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=z), label)


def previous_month(window: Window, tz: str) -> Window:
    """The calendar month before ``window``'s."""
    local = (window.start - timedelta(days=1)).astimezone(zone(tz))
    return month_bounds(f"{local.year:04d}-{local.month:02d}", tz)


def current_month_label(now: datetime, tz: str) -> str:
    """``YYYY-MM`` of ``now`` in the hotline's time zone."""
    local = now.astimezone(zone(tz))
    return f"{local.year:04d}-{local.month:02d}"


def day_start(moment: datetime, tz: str) -> datetime:
    """Local midnight of ``moment``'s day."""
    local = moment.astimezone(zone(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)
