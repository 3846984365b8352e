"""Open311's form bodies: ``application/x-www-form-urlencoded``, mapped onto intake's models.

A service request becomes the same ``ComplaintCreate`` an operator files, so it takes the
same path through validation, duplicates, idempotency and events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from jiesu_common.http import Problem
from jiesu_intake.catalog import Attribute, Category
from jiesu_intake.open311.rules import parse_w3
from jiesu_intake.schemas import ComplaintCreate

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 500
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
_CJK = re.compile(r"[\u3400-\u9fff]")

Answers = dict[str, str | list[str]]


def bad_request(detail: str, errors: list[str] | None = None) -> Problem:
    """Open311's general 400, with each problem listed."""
    return Problem(
        400,
        "invalid-request",
        "请求无效 / Invalid request",
        detail,
        errors=[{"msg": e} for e in (errors or [detail])],
    )


@dataclass(frozen=True)
class Form:
    """A parsed form body; blank values count as absent (the spec's optional arguments)."""

    pairs: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """The first non-blank value of a field."""
        return next(iter(self.all(name)), None)

    def all(self, name: str) -> list[str]:
        """Every non-blank value of a repeated field (e.g. several ``media_url``)."""
        return [v.strip() for k, v in self.pairs if k == name and v.strip()]

    def attributes(self) -> Answers:
        """``attribute[code]=v`` and ``attribute[code][]=v1&...`` as code → value(s)."""
        answers: dict[str, list[str]] = {}
        listed: set[str] = set()
        for key, value in self.pairs:
            match = _ATTRIBUTE.match(key)
            if match is None or not value.strip():
                continue
            answers.setdefault(match.group(1), []).append(value.strip())
            if match.group(2):
                listed.add(match.group(1))
        return {
            code: values if code in listed or len(values) > 1 else values[0]
            for code, values in answers.items()
        }


def parse_form(body: bytes, content_type: str | None) -> Form:
    """Decode a form body (UTF-8, as the spec requires); 400 on anything else."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in ("", FORM):
        raise bad_request(f"请求体须为 {FORM} / the body must be {FORM}")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request("请求体无法解析 / the form body cannot be read") from exc
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        raise bad_request("请求体不能含 NUL 字符 / the body must not contain NUL characters")
    return Form(tuple(pairs))


def complaint_from_form(form: Form, category: Category, *, tz: str) -> ComplaintCreate:
    """The complaint a service request files; 400 listing every problem."""
    answers = form.attributes()
    errors = attribute_errors(category, answers, tz=tz)
    description = form.get("description") or _text(answers.get("description"))
    if not description:
        errors.append("description 必填 / description is required")
    location = _location(form, errors)
    if errors:
        raise bad_request("; ".join(errors), errors)
    if form.get("address_id"):
        answers["address_id"] = form.get("address_id") or ""
    title = _text(answers.get("title"))
    try:
        return ComplaintCreate.model_validate(
            {
                "channel": "open311",
                "kind": "complaint",
                "title": title[:200] if title else None,
                "content": description,  # too long is refused, never cut short
                "category_code": category.code,
                "caller": {
                    "name": join_name(form.get("first_name"), form.get("last_name")),
                    "phone": form.get("phone"),
                    "email": form.get("email"),
                },
                "location": location,
                "attachments": form.all("media_url"),
                "external_ref": _text(answers.get("fixmystreet_id")),
                "attributes": answers,
            }
        )
    except ValidationError as exc:
        problems = [f"{_field(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise bad_request("; ".join(problems[:5]), problems) from exc


def idempotency_key(form: Form, header: str | None) -> str | None:
    """The client's ``Idempotency-Key``, else FixMyStreet's own report id: a resend of a
    report FixMyStreet failed to hear back about files nothing twice."""
    if header:
        return header
    fixmystreet_id = _text(form.attributes().get("fixmystreet_id"))
    return f"fixmystreet:{fixmystreet_id}" if fixmystreet_id else None


def join_name(first: str | None, last: str | None) -> str | None:
    """A full name: family name first for Chinese names, else "first last"."""
    parts = [p for p in (first, last) if p]
    if not parts:
        return None
    if len(parts) == 2 and (_CJK.search(parts[0]) or _CJK.search(parts[1])):
        return (last or "") + (first or "")
    return " ".join(parts)[:64]


def attribute_errors(category: Category, answers: Answers, *, tz: str) -> list[str]:
    """What is wrong with the answers to a category's questions (unknown codes are kept)."""
    errors: list[str] = []
    for attribute in category.attributes:
        if not attribute.variable:
            continue
        answer = answers.get(attribute.code)
        if answer is None:
            if attribute.required:
                errors.append(
                    f"attribute[{attribute.code}] 必填 / is required: {attribute.description}"
                )
            continue
        problem = _answer_error(attribute, answer, tz=tz)
        if problem:
            errors.append(f"attribute[{attribute.code}] {problem}")
    return errors


def _answer_error(attribute: Attribute, answer: str | list[str], *, tz: str) -> str | None:
    values = [answer] if isinstance(answer, str) else answer
    keys = [v.key for v in attribute.values]
    if attribute.datatype == "multivaluelist":
        wrong = [v for v in values if v not in keys]
        return f"取值须在 {keys} 之中 / values must be among {keys}" if wrong else None
    if len(values) != 1:
        return "只能有一个值 / takes one value"
    value = values[0]
    if attribute.datatype == "singlevaluelist" and value not in keys:
        return f"取值须为 {keys} 之一 / must be one of {keys}"
    if attribute.datatype == "number" and not _is_number(value):
        return "须为数字 / must be a number"
    if attribute.datatype == "datetime" and not _is_datetime(value, tz):
        return "须为 ISO 8601 时间 / must be an ISO 8601 date-time"
    if attribute.datatype == "string" and "\n" in value:
        return "不能换行 / must be one line"
    return None


def _location(form: Form, errors: list[str]) -> dict[str, Any]:
    lat, lon = form.get("lat"), form.get("long")
    location: dict[str, Any] = {
        "address": form.get("address_string") or None,
    }
    if (lat is None) != (lon is None):
        errors.append("lat 与 long 须同时提供 / lat and long go together")
    elif lat is not None and lon is not None:
        if _is_number(lat) and _is_number(lon):
            location.update(lat=float(lat), lon=float(lon))
        else:
            errors.append("lat/long 须为数字 / lat and long must be numbers")
    if lat is None and not location["address"] and not form.get("address_id"):
        errors.append(
            "须提供 lat 与 long、address_string 或 address_id / "
            "a location (lat & long, address_string or address_id) is required"
        )
    return location


def _is_number(value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return number == number and number not in (float("inf"), float("-inf"))


def _is_datetime(value: str, tz: str) -> bool:
    try:
        parse_w3(value, tz=tz)
    except ValueError:
        return False
    return True


def _text(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _field(loc: tuple[int | str, ...]) -> str:
    names = {"content": "description", "lat": "lat", "lon": "long", "attachments": "media_url"}
    return ".".join(names.get(str(p), str(p)) for p in loc)
