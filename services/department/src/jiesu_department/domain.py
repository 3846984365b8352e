"""The rules of a case's life (pure: no I/O).

A case is one unit's share of one assignment round. Its status moves
assigned → accepted → in_progress → resolved; the lead unit may return it within the
return window; a newer round or a withdrawn complaint closes it out as withdrawn.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

Action = Literal[
    "accept", "contact", "progress", "resolve", "return", "extension-request", "pause-request"
]
OPEN_STATUSES = frozenset({"assigned", "accepted", "in_progress"})
CASE_NAMESPACE = uuid.UUID("5b0c1f0e-6d1a-4c39-9d3b-6a8f1e2c7a10")


class ActionRefused(Exception):
    """The action is not allowed in the case's current state; a stable slug says why."""

    def __init__(self, slug: str, message: str) -> None:
        super().__init__(message)
        self.slug = slug
        self.message = message


@dataclass(frozen=True)
class CaseState:
    """What the rules look at."""

    status: str
    role: str
    contacted: bool
    extension_pending: bool
    return_by: datetime
    resolve_by: datetime
    mode: str = "auto"
    # 挂起: None, "pending" (asked, the centre has not decided) or "paused" (until
    # ``paused_until`` when set, else until the centre or the unit resumes it).
    pause_status: str | None = None
    paused_until: datetime | None = None
    # 答复审核: the reply waits for the centre (pending) before the case counts as resolved.
    reply_review_required: bool = False
    reply_review: str | None = None

    def paused(self, now: datetime) -> bool:
        """Paused at ``now``: granted and not yet past its resume date."""
        return self.pause_status == "paused" and (
            self.paused_until is None or self.paused_until > now
        )


def case_id_for(assignment_id: uuid.UUID, unit_id: str) -> uuid.UUID:
    """One case per unit per assignment; the same id however often the event is seen."""
    return uuid.uuid5(CASE_NAMESPACE, f"{assignment_id}:{unit_id}")


def next_status(case: CaseState, action: Action, now: datetime) -> str:
    """The status after ``action``, or ActionRefused."""
    if case.status not in OPEN_STATUSES:
        raise ActionRefused(
            "case-not-open", f"承办任务已{_LABEL[case.status]} / case is {case.status}"
        )
    if action == "accept":
        if case.status != "assigned":
            raise ActionRefused("already-accepted", "已签收 / the case was already accepted")
        return "accepted"
    if case.status == "assigned" and action != "return":
        raise ActionRefused("not-accepted", "请先签收 / accept the case first")
    if action == "contact":
        if case.contacted:
            raise ActionRefused("already-contacted", "已联系过诉求人 / first contact is recorded")
        return "in_progress"
    if action == "progress":
        return "in_progress"
    if action == "resolve":
        return _check_resolve(case)
    if action == "return":
        return _check_return(case, now)
    if action == "pause-request":
        return _check_pause(case, now)
    return _check_extension(case, now)


def _check_resolve(case: CaseState) -> str:
    """A reply the centre reviews leaves the case open (in progress) until it is approved."""
    if case.reply_review == "pending":
        raise ActionRefused("reply-pending", "答复正在审核中 / the reply is waiting for review")
    return "in_progress" if case.reply_review_required else "resolved"


def _check_pause(case: CaseState, now: datetime) -> str:
    """A pause is asked for once at a time, before the resolve deadline, by the lead unit."""
    if case.role != "lead":
        raise ActionRefused(
            "co-unit-cannot-pause", "协办单位不能申请挂起 / only the lead unit pauses"
        )
    if case.pause_status == "pending":
        raise ActionRefused("pause-pending", "已有待审批的挂起申请 / a pause is pending")
    if case.paused(now):
        raise ActionRefused("already-paused", "承办任务已挂起 / the case is already paused")
    if now > case.resolve_by:
        raise ActionRefused(
            "deadline-passed",
            f"办结时限已过（{case.resolve_by.isoformat()}），不能申请挂起 / deadline has passed",
        )
    return case.status


def _check_return(case: CaseState, now: datetime) -> str:
    if case.role != "lead":
        raise ActionRefused(
            "co-unit-cannot-return", "协办单位不能退单，请联系派单中心 / only the lead unit returns"
        )
    if case.mode == "consultation":
        raise ActionRefused(
            "decided-by-consultation",
            "会商确定的主办单位不能退单 / a lead unit decided by consultation cannot return",
        )
    if now > case.return_by:
        raise ActionRefused(
            "return-window-closed",
            f"退单时限已过（{case.return_by.isoformat()}）/ the return window has closed",
        )
    return "returned"


def _check_extension(case: CaseState, now: datetime) -> str:
    if case.extension_pending:
        raise ActionRefused("extension-pending", "已有待审批的延期申请 / an extension is pending")
    if now > case.resolve_by:
        raise ActionRefused(
            "deadline-passed",
            f"办结时限已过（{case.resolve_by.isoformat()}），不能申请延期 / deadline has passed",
        )
    return case.status


def shift_deadlines(deadlines: dict[str, Any], by: timedelta) -> dict[str, Any]:
    """The case's clocks moved by a pause: accept, contact and resolve (not the return window,
    which is about the assignment, not the work)."""
    moved = dict(deadlines)
    for key in ("accept_by", "contact_by", "resolve_by"):
        if moved.get(key):
            moved[key] = (datetime.fromisoformat(moved[key]) + by).isoformat()
    return moved


_LABEL = {"resolved": "办结", "returned": "退回", "withdrawn": "撤销"}


def summons_case_id(whistle_id: uuid.UUID, unit_id: str) -> uuid.UUID:
    """The summoned unit's case of a whistle: the same id however often the event is seen."""
    return uuid.uuid5(whistle_id, unit_id)


def check_report_in(*, status: str, whistle_id: uuid.UUID | None, reported: bool) -> None:
    """报到: only on a whistle summons, once, while the case is open."""
    if whistle_id is None:
        raise ActionRefused("not-a-summons", "此承办任务不是吹哨报到任务 / not a whistle summons")
    if reported:
        raise ActionRefused("already-reported", "已报到 / the unit already reported in")
    if status not in OPEN_STATUSES:
        raise ActionRefused("case-not-open", f"承办任务已{_LABEL[status]} / case is {status}")


def check_whistle(
    *,
    status: str,
    caller_unit: str,
    caller_kind: str | None,
    summoned: list[str],
    known_units: set[str],
    report_by: datetime,
    now: datetime,
) -> list[str]:
    """What is wrong with a whistle (吹哨); the slug of a refusal raises ActionRefused."""
    if caller_kind != "street_office":
        raise ActionRefused(
            "whistle-street-office-only", "只有街道（乡镇）可以吹哨 / street offices only"
        )
    if status not in OPEN_STATUSES:
        raise ActionRefused("case-not-open", f"承办任务已{_LABEL[status]} / case is {status}")
    problems = []
    if report_by <= now:
        problems.append("报到时限须在将来 / report_by must be in the future")
    if caller_unit in summoned:
        problems.append("不能召集本单位 / a street office cannot summon itself")
    unknown = [u for u in summoned if u not in known_units]
    if unknown:
        problems.append(f"未知单位 / unknown unit(s): {', '.join(unknown)}")
    if len(set(summoned)) != len(summoned):
        problems.append("单位重复 / a unit is listed twice")
    return problems
