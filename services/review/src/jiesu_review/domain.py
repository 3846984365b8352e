"""Review rules (pure): when a review falls due and what its answers lead to."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Literal

from jiesu_common.calendar import zone

REVIEW_NAMESPACE = uuid.UUID("0f4a4b8e-3b0d-4d56-9a59-1d2f0f6f7c21")


def review_id_for(complaint_id: uuid.UUID, round_no: int) -> uuid.UUID:
    """One review per complaint and round, the same id however often the event is seen."""
    return uuid.uuid5(REVIEW_NAMESPACE, f"{complaint_id}:{round_no}")


def due_at(handled_at: datetime, *, tz: str, after_days: int = 1) -> datetime:
    """Start of the day after handling, in the hotline's time zone (回访 is next-day work)."""
    local = handled_at.astimezone(zone(tz))
    day = local.date() + timedelta(days=after_days)
    return datetime.combine(day, time(0, 0), tzinfo=local.tzinfo)


def outcome_of(*, resolved: bool, satisfaction: str) -> Literal["closed", "reopened"]:
    """Unsolved or dissatisfied means 重办; anything else closes the complaint."""
    if not resolved or satisfaction == "dissatisfied":
        return "reopened"
    return "closed"


def reopen_reason(*, resolved: bool, satisfaction: str) -> str:
    """Why the complaint goes back, for the unit and the timeline."""
    reasons = []
    if not resolved:
        reasons.append("诉求未解决 / not resolved")
    if satisfaction == "dissatisfied":
        reasons.append("群众不满意 / resident dissatisfied")
    return "；".join(reasons)
