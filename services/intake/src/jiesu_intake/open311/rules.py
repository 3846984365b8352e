"""Open311's pure rules: status mapping, notes and notices, FixMyStreet's statuses, dates.

Hotline staff read the texts, so they are Chinese first, with English after a slash.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jiesu_common.contracts.events import ComplaintStatus
from jiesu_intake.catalog import Category

S = ComplaintStatus
Open311Status = Literal["open", "closed"]

# Open311 knows only open and closed. A complaint is closed when nothing more will happen
# to it: the review closed it, the resident withdrew it, it was answered on the spot, or it
# was merged into another (its master carries on). "resolved" stays open: the callback
# review may still reopen it.
CLOSED_STATUSES = frozenset({S.closed, S.withdrawn, S.answered, S.merged})
OPEN_STATUSES = frozenset(S) - CLOSED_STATUSES

SLA_CLASS_NAMES = {
    "emergency": "紧急",
    "utility": "水电气热",
    "general": "一般",
    "complex": "疑难",
}


def open311_status(status: str) -> Open311Status:
    """``open`` or ``closed`` for an internal status."""
    return "closed" if S(status) in CLOSED_STATUSES else "open"


def internal_statuses(wanted: set[str]) -> set[str]:
    """The internal statuses behind a set of Open311 statuses."""
    chosen: set[ComplaintStatus] = set()
    if "open" in wanted:
        chosen |= OPEN_STATUSES
    if "closed" in wanted:
        chosen |= CLOSED_STATUSES
    return {s.value for s in chosen}


def status_notes(
    status: str, *, round_no: int, unit: str | None, detail: str | None, with_detail: bool
) -> str:
    """What the status means for the resident; the free text only for the filing app."""
    unit = unit or "承办单位"
    notes = {
        S.received: "已受理，等待派单 / received, awaiting assignment",
        S.queued: "已受理，正由派单员人工派单 / received, a dispatcher is assigning it",
        S.consultation: "多个单位正在会商确定承办单位 / units are agreeing who handles it",
        S.assigned: f"已派单至{unit}，等待签收 / assigned to {unit}",
        S.accepted: f"{unit}已签收，正在办理 / accepted by {unit}",
        S.in_progress: f"{unit}正在办理 / {unit} is working on it",
        S.resolved: f"{unit}已办结，待回访确认 / resolved by {unit}, awaiting the callback",
        S.closed: "已回访，诉求办结 / closed after the callback review",
        S.merged: "重复诉求，已与同一问题的诉求合并办理 / a duplicate, handled with the original",
        S.answered: "已直接答复 / answered on the spot",
        S.withdrawn: "已撤回 / withdrawn",
    }
    note = notes[S(status)]
    if S(status) is S.assigned and round_no > 1:
        note = f"已重新派单至{unit}（第 {round_no} 轮）/ reassigned to {unit} (round {round_no})"
    if with_detail and detail:
        note = f"{note}：{detail}"
    return note


def expected_time(category: Category) -> tuple[str, str]:
    """How long the category's resolve clock runs, in words: (Chinese, English)."""
    clocks = category.clocks
    if clocks.resolve_working_days:
        days = clocks.resolve_working_days
        return f"{days} 个工作日", f"{days} working days"
    minutes = clocks.resolve_minutes
    if minutes % 1440 == 0:
        return f"{minutes // 1440} 天", f"{minutes // 1440} days"
    hours = math.ceil(minutes / 60)
    return f"{hours} 小时", f"{hours} hours"


def service_notice(category: Category | None) -> str | None:
    """The expected handling time, from the category's deadlines (DESIGN §6)."""
    if category is None:
        return None
    zh, en = expected_time(category)
    clazz = SLA_CLASS_NAMES.get(category.sla_class, category.sla_class)
    return (
        f"派单后承办单位须在 {zh}内办结（{clazz}类时限），办结后热线将回访。"
        f"/ The responsible unit must resolve it within {en} of assignment; "
        "the hotline then calls back."
    )


def duplicate_notice(master_ticket_no: str) -> str:
    """The notice of a request recognised as a repeat of an open one."""
    return (
        f"该问题已有诉求 {master_ticket_no} 在办，本诉求已合并办理。"
        f"/ Already reported as {master_ticket_no}; handled together with it."
    )


# --- FixMyStreet's extended statuses ---------------------------------------------------

# Jiesu's status → FixMyStreet's status word (its client maps these to its own states).
FMS_STATUS: dict[ComplaintStatus, str] = {
    S.received: "OPEN",
    S.queued: "INVESTIGATING",
    S.consultation: "INVESTIGATING",
    S.assigned: "ACTION_SCHEDULED",
    S.accepted: "ACTION_SCHEDULED",
    S.in_progress: "IN_PROGRESS",
    S.resolved: "FIXED",
    S.closed: "CLOSED",
    S.merged: "DUPLICATE",
    S.answered: "CLOSED",
    S.withdrawn: "CLOSED",
}


def fms_status(status: ComplaintStatus, *, review_resolved: bool | None = None) -> str:
    """FixMyStreet's word for a status; a closure the review found solved stays FIXED."""
    if status is S.closed and review_resolved:
        return "FIXED"
    return FMS_STATUS[status]


FmsEffect = Literal["comment", "ends_matter", "wants_reopen"]
# A status FixMyStreet posts with an update → what the resident's update means here.
FMS_UPDATE_EFFECT: dict[str, FmsEffect] = {
    "OPEN": "comment",
    "INVESTIGATING": "comment",
    "IN_PROGRESS": "comment",
    "ACTION_SCHEDULED": "comment",
    "FIXED": "ends_matter",
    "CLOSED": "ends_matter",
    "DUPLICATE": "ends_matter",
    "NOT_COUNCILS_RESPONSIBILITY": "ends_matter",
    "NO_FURTHER_ACTION": "ends_matter",
    "INTERNAL_REFERRAL": "ends_matter",
    "REOPEN": "wants_reopen",
}


def fms_update_effect(status: str) -> FmsEffect | None:
    """What a status posted by FixMyStreet asks of Jiesu; None for a word it does not send."""
    return FMS_UPDATE_EFFECT.get(status.strip().upper().replace(" ", "_"))


UPDATE_TEXT = {
    "jiesu.complaint.queued.v1": "已受理，正由派单员人工派单 / a dispatcher is assigning it",
    "jiesu.consultation.opened.v1": "多个单位正在会商确定承办单位 / units are agreeing who leads",
    "jiesu.case.accepted.v1": "{unit}已签收 / accepted by {unit}",
    "jiesu.case.contacted.v1": "{unit}已与您联系 / {unit} has been in touch",
    "jiesu.case.progressed.v1": "{unit}办理进展 / progress from {unit}",
    "jiesu.case.resolved.v1": "{unit}已办结 / resolved by {unit}",
    "jiesu.complaint.closed.v1": "已回访，诉求办结 / closed after the callback review",
    "jiesu.complaint.merged.v1": "重复诉求，已合并办理 / a duplicate, handled with the original",
    "jiesu.complaint.answered.v1": "已直接答复 / answered",
    "jiesu.complaint.withdrawn.v1": "已撤回 / withdrawn",
}
# The free text each event carries in its timeline detail.
UPDATE_DETAIL = {
    "jiesu.case.contacted.v1": "note",
    "jiesu.case.progressed.v1": "note",
    "jiesu.case.resolved.v1": "reply",
    "jiesu.complaint.reopened.v1": "reason",
    "jiesu.complaint.withdrawn.v1": "reason",
}


def update_description(
    event_type: str, detail: dict[str, Any], *, round_no: int | None, unit: str | None
) -> str:
    """One line of the updates feed: what happened, with the unit's own words."""
    unit = unit or "承办单位"
    if event_type == "jiesu.complaint.assigned.v1":
        if (round_no or 1) > 1:
            text = f"已重新派单至{unit}（第 {round_no} 轮）/ reassigned to {unit}"
        else:
            text = f"已派单至{unit} / assigned to {unit}"
    elif event_type == "jiesu.complaint.reopened.v1":
        text = "回访未通过，将重新办理 / the callback found it unsolved; it will be redone"
    else:
        text = UPDATE_TEXT[event_type].format(unit=unit)
    words = detail.get(UPDATE_DETAIL.get(event_type, ""))
    return f"{text}：{words}" if words else text


# --- dates -------------------------------------------------------------------------------


def parse_w3(value: str, *, tz: str, end_of_day: bool = False) -> datetime:
    """A W3C date/time (``2010-01-01T00:00:00Z``, ``2010-01-01``); local time when no zone.

    ValueError on anything else.
    """
    text = value.strip()
    if not text or len(text) > 40:
        raise ValueError(value)
    if len(text) == 10:
        day = datetime.strptime(text, "%Y-%m-%d").date()
        moment = datetime.combine(day, time.max if end_of_day else time.min)
        return moment.replace(tzinfo=ZoneInfo(tz))
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    return parsed


def local(moment: datetime, *, tz: str) -> datetime:
    """A timestamp in the hotline's time zone, to the second (Open311 wants an offset)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(tz)).replace(microsecond=0)


def local_or_none(moment: datetime | None, *, tz: str) -> datetime | None:
    """``local`` for an optional timestamp."""
    return None if moment is None else local(moment, tz=tz)
