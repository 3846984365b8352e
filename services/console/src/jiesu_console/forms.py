"""Forms on the desks: what the person typed, and the API's problem shown beside each field."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData

from jiesu_common.calendar import zone
from jiesu_console.upstream import UpstreamError

# pydantic's error types, as a person reads them (the API's own text follows in brackets).
MESSAGES = {
    "missing": "必填",
    "string_too_short": "不能为空",
    "string_too_long": "内容过长",
    "too_short": "至少选择一项",
    "too_long": "选择过多",
    "literal_error": "取值无效",
    "enum": "取值无效",
    "bool_parsing": "请选择是或否",
    "bool_type": "请选择是或否",
    "datetime_parsing": "时间格式无效",
    "datetime_from_date_parsing": "时间格式无效",
    "timezone_aware": "时间须带时区",
    "uuid_parsing": "编号无效",
    "extra_forbidden": "不允许的字段",
}


@dataclass
class FormState:
    """One form's values as typed and its errors: per field, and for the whole form."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def failed(self, exc: UpstreamError, hints: dict[str, str] | None = None) -> FormState:
        """Take a service's problem+json apart: field errors beside fields, the rest on top.

        ``hints`` maps a word of the problem's detail to the field it is about (a 422 the
        service raised itself names no field: "未知单位" is about the unit typed).
        """
        for item in exc.problem.get("errors") or []:
            loc = [str(x) for x in item.get("loc", []) if x not in ("body",)]
            key = loc[0] if loc else "_"
            kind = str(item.get("type", ""))
            # Known kinds in Chinese only; anything else keeps the API's own words.
            self.errors[key] = MESSAGES.get(kind) or f"内容无效（{item.get('msg', '')}）"
        detail = str(exc.problem.get("detail") or "")
        for word, key in (hints or {}).items():
            if not self.errors and exc.status == 422 and word in detail:
                self.errors[key] = detail.split(" / ")[0]
        if not self.errors or "_" in self.errors:
            self.error = _problem_text(exc)
        return self


def _problem_text(exc: UpstreamError) -> str:
    """The problem in Chinese first: its title's Chinese half, then the detail."""
    title = str(exc.problem.get("title") or "").split(" / ")[0]
    detail = str(exc.problem.get("detail") or exc.title)
    status = {404: "未找到", 409: "状态冲突", 422: "内容无效", 403: "无权限"}.get(exc.status, "")
    head = title or status
    return f"{head}：{detail}" if head and head not in detail else detail


def text(form: FormData, key: str) -> str | None:
    """A text field, stripped; empty means absent (the API then says whether it is needed)."""
    value = form.get(key)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def units(form: FormData, key: str, names: dict[str, str]) -> list[str]:
    """Units picked in a multiple select or typed (id or name, comma separated)."""
    picked: list[str] = []
    for raw in form.getlist(key):
        if not isinstance(raw, str):
            continue
        for part in raw.replace("，", ",").split(","):
            unit = unit_id(part.strip(), names)
            if unit and unit not in picked:
                picked.append(unit)
    return picked


def unit_id(typed: str | None, names: dict[str, str]) -> str | None:
    """A unit typed as its id, its name or "name（id）" (as the search list offers it)."""
    if not typed:
        return None
    typed = typed.strip()
    if "（" in typed and typed.endswith("）"):
        typed = typed[typed.rindex("（") + 1 : -1]
    if typed in names:
        return typed
    by_name = {name: uid for uid, name in names.items()}
    return by_name.get(typed, typed)


def local_time(value: str | None, tz: str) -> str | None:
    """A ``datetime-local`` input (the hotline's zone) as an aware ISO time for the API."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # the API says what is wrong with it
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(tz))
    return moment.isoformat()


def yes_no(form: FormData, key: str) -> bool | None:
    """是/否 radio buttons; neither picked is left for the API to refuse."""
    value = form.get(key)
    return {"true": True, "false": False}.get(value) if isinstance(value, str) else None
