"""The knowledge base's rules: who may manage an article, and which articles are current."""

from __future__ import annotations

from datetime import date

from jiesu_common.auth import Principal
from jiesu_common.http import Problem

MANAGERS = ("admin", "unit_staff")


def owner_for_new(principal: Principal, owner_unit_id: str | None) -> str | None:
    """The owning unit of a new article: an admin names any (or none); a unit's staff
    write only for their own unit."""
    if principal.role == "admin":
        return owner_unit_id
    if owner_unit_id not in (None, principal.unit_id):
        raise not_owned()
    return principal.unit_id


def check_may_edit(principal: Principal, owner_unit_id: str | None) -> None:
    """Admins edit every article; a unit's staff only their own unit's."""
    if principal.role != "admin" and owner_unit_id != principal.unit_id:
        raise not_owned()


def not_owned() -> Problem:
    """403: a unit's staff touching another unit's article."""
    return Problem(
        403,
        "article-not-owned",
        "无权维护此知识 / Not your unit's article",
        "单位人员只能维护本单位的知识条目 / unit staff manage only their unit's articles",
    )


def check_validity(valid_from: date, valid_until: date | None) -> None:
    """An article's validity ends on or after its start."""
    if valid_until is not None and valid_until < valid_from:
        raise Problem.invalid("失效日期早于生效日期 / valid_until is before valid_from")


def is_current(valid_from: date, valid_until: date | None, today: date) -> bool:
    """In force today (both ends inclusive)."""
    return valid_from <= today and (valid_until is None or today <= valid_until)
