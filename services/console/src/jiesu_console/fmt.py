"""How figures read on the page: rates as percentages, times in the hotline's zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jiesu_common.calendar import zone

STATUS = {
    "received": ("已受理", "info"),
    "in_progress": ("办理中", "warning"),
    "closed": ("已结案", "success"),
    "merged": ("已合并", "info"),
    "withdrawn": ("已撤回", "info"),
    "answered": ("已直办", "success"),
}
CLOCKS = {
    "accept": "签收",
    "contact": "响应",
    "resolve": "办结",
    "report_in": "报到",
}
LEVELS = {"reminder": "催办", "supervision": "督办", "notice": "通报"}
LIGHTS = {"red": ("超期", "danger"), "yellow": ("预警", "warning"), "green": ("正常", "success")}


def pct(value: float | None) -> str:
    """0.9345 → 93.5%; None → —."""
    return "—" if value is None else f"{value * 100:.1f}%"


def num(value: Any) -> str:
    """A count, or — when missing."""
    return "—" if value is None else f"{value:,}" if isinstance(value, int) else f"{value}"


def when(value: str | datetime | None, tz: str, seconds: bool = False) -> str:
    """An ISO time as local ``YYYY-MM-DD HH:MM``."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def change(now: float | int | None, before: float | int | None, rate: bool) -> dict[str, Any]:
    """The change against the period before: text and direction (up, down, flat, none)."""
    if now is None or before is None:
        return {"text": "无对比", "dir": "none"}
    delta = now - before
    text = f"{delta * 100:+.1f} 个百分点" if rate else f"{delta:+,}"
    return {"text": text, "dir": "up" if delta > 0 else "down" if delta < 0 else "flat"}


def duration(seconds: int) -> str:
    """Remaining or overdue time: 2天3小时 / 3小时05分 / 12分."""
    s = abs(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days}天{hours}小时"
    elif hours:
        text = f"{hours}小时{minutes:02d}分"
    else:
        text = f"{minutes}分"
    return ("超期 " if seconds < 0 else "剩余 ") + text
