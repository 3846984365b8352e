"""Reply templates (答复模板): a unit's standard replies per category, with ``{placeholders}``
filled from the case (pure: no I/O)."""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

HOTLINE_ZONE = ZoneInfo("Asia/Shanghai")
# What a template may name, and where each value comes from.
PLACEHOLDERS = {
    "ticket_no": "工单编号",
    "title": "诉求标题",
    "content": "诉求内容",
    "address": "地址",
    "received_date": "受理日期",
    "category_code": "类别",
    "unit_id": "承办单位",
}


def unknown_placeholders(body: str) -> list[str]:
    """The names a template uses that no case can fill; ValueError for broken braces."""
    names = [name for _, name, _, _ in string.Formatter().parse(body) if name is not None]
    return [n for n in dict.fromkeys(names) if n not in PLACEHOLDERS]


def case_values(case: Any) -> dict[str, str]:
    """A case's values for the placeholders."""
    summary: Mapping[str, Any] = case.summary
    received = summary.get("received_at")
    received_date = (
        datetime.fromisoformat(received).astimezone(HOTLINE_ZONE).strftime("%Y年%m月%d日")
        if received
        else ""
    )
    return {
        "ticket_no": case.ticket_no,
        "title": summary.get("title") or "",
        "content": summary.get("content") or "",
        "address": (summary.get("location") or {}).get("address") or "",
        "received_date": received_date,
        "category_code": case.category_code,
        "unit_id": case.unit_id,
    }


def fill(body: str, values: Mapping[str, str]) -> str:
    """The template with its placeholders filled (a name the case lacks stays as written)."""

    class _Keep(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    return string.Formatter().vformat(body, (), _Keep(values))
