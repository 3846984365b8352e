"""SLA clock rules (pure): when a clock next needs attention and what is due then.

Ladder (DESIGN §6): warning at 80 % of the clock; at the deadline a breach and a
reminder (催办); one working day later supervision (督办); five working days after the
deadline a public notice (通报). A clock that is stopped (the unit acted) fires nothing.

A pause (挂起) granted by the centre stops a running clock: nothing fires while it lasts,
and the time it lasted moves the whole ladder later (``paused_s``). A pause with a date
ends by itself at that date (the ticker folds it in); one ended by action earlier counts
only up to then.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from jiesu_common.calendar import WorkingCalendar

LEVELS = ("reminder", "supervision", "notice")
CLOCK_NAMESPACE = uuid.UUID("7d4f7f6c-2c39-4b8b-9a51-5b9c3f0e2d11")
Firing = Literal["warning", "breached", "reminder", "supervision", "notice"]


def clock_id_for(complaint_id: uuid.UUID, round_no: int, unit_id: str, clock: str) -> uuid.UUID:
    """A stable id for a clock (used in cursors and by the API)."""
    return uuid.uuid5(CLOCK_NAMESPACE, f"{complaint_id}:{round_no}:{unit_id}:{clock}")


@dataclass(frozen=True)
class Ladder:
    """The configured escalation ladder."""

    calendar: WorkingCalendar
    warning_fraction: float = 0.8
    supervision_after: int = 1
    notice_after: int = 5


@dataclass(frozen=True)
class ClockState:
    """What the rules need of a clock row."""

    started_at: datetime | None
    deadline: datetime | None
    extended_deadline: datetime | None
    stopped_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    level: str | None
    paused_at: datetime | None = None  # a pause running since then
    pause_until: datetime | None = None  # ... until then (None: until resumed by action)
    paused_s: float = 0.0  # seconds of pauses already over

    @property
    def effective_deadline(self) -> datetime | None:
        """The deadline, moved by an approved extension and by the pauses already over."""
        base = self.extended_deadline or self.deadline
        return None if base is None else base + timedelta(seconds=self.paused_s)

    def paused(self, now: datetime) -> bool:
        """A pause runs at ``now``."""
        return self.paused_at is not None and (self.pause_until is None or now < self.pause_until)


def start_pause(state: ClockState, paused_at: datetime, until: datetime | None) -> ClockState:
    """A granted pause stops the clock (a stopped clock, or one already paused, is left)."""
    if state.stopped_at is not None and state.stopped_at <= paused_at:
        return state
    if state.paused_at is not None:
        return state
    return replace(state, paused_at=paused_at, pause_until=until)


def end_pause(state: ClockState, ended_at: datetime) -> ClockState:
    """The pause is over at ``ended_at`` (or at its own date, if that came first): the time it
    lasted moves the ladder; the clock runs again."""
    if state.paused_at is None:
        return state
    end = min(ended_at, state.pause_until) if state.pause_until else ended_at
    lasted = max((end - state.paused_at).total_seconds(), 0.0)
    return replace(state, paused_at=None, pause_until=None, paused_s=state.paused_s + lasted)


def _resumed(state: ClockState, now: datetime) -> ClockState:
    """A dated pause whose date has come is folded in."""
    if state.paused_at is not None and state.pause_until is not None and now >= state.pause_until:
        return end_pause(state, state.pause_until)
    return state


def next_fire_at(state: ClockState, ladder: Ladder) -> datetime | None:
    """When the clock next needs looking at; None when it never will (stopped, ended, or
    paused until resumed by action). A dated pause is looked at when it ends."""
    deadline = state.effective_deadline
    if state.stopped_at is not None or deadline is None or state.started_at is None:
        return None
    if state.paused_at is not None:
        return state.pause_until
    if state.breached_at is None:
        shift = timedelta(seconds=state.paused_s)
        warn_at = warning_time(state.started_at, deadline - shift, ladder.warning_fraction) + shift
        return warn_at if state.warned_at is None and warn_at < deadline else deadline
    if state.level == "reminder":
        return ladder.calendar.add_working_days(deadline, ladder.supervision_after)
    if state.level == "supervision":
        return ladder.calendar.add_working_days(deadline, ladder.notice_after)
    return None


def warning_time(started_at: datetime, deadline: datetime, fraction: float) -> datetime:
    """The moment ``fraction`` of the clock has run."""
    return started_at + (deadline - started_at) * fraction


def fire(state: ClockState, now: datetime, ladder: Ladder) -> tuple[list[Firing], ClockState]:
    """Everything due at ``now``, in order, and the clock after it.

    A clock looked at only after its deadline (the service was down) skips the stale
    warning but still breaches exactly once, and catches up the rungs already due.
    """
    fired: list[Firing] = []
    state = _resumed(state, now)
    deadline, started = state.effective_deadline, state.started_at
    if state.stopped_at is not None or deadline is None or started is None:
        return fired, state
    if state.paused_at is not None:
        return fired, state
    if state.breached_at is None:
        shift = timedelta(seconds=state.paused_s)
        if now >= deadline:
            fired += ["breached", "reminder"]
            state = replace(
                state, warned_at=state.warned_at or now, breached_at=now, level="reminder"
            )
        elif (
            state.warned_at is None
            and now >= warning_time(started, deadline - shift, ladder.warning_fraction) + shift
        ):
            return ["warning"], replace(state, warned_at=now)
        else:
            return fired, state
    while state.level in ("reminder", "supervision"):
        rung = next_fire_at(state, ladder)
        if rung is None or now < rung:
            break
        level = "supervision" if state.level == "reminder" else "notice"
        fired.append(level)  # type: ignore[arg-type]
        state = replace(state, level=level)
    return fired, state


def outcome(state: ClockState, now: datetime) -> str:
    """met | late | breached (still running past its deadline) | paused | running | pending."""
    if state.stopped_at is not None and state.paused_at is not None:
        state = end_pause(state, state.stopped_at)  # stopped while paused
    state = _resumed(state, now)
    deadline = state.effective_deadline
    if deadline is None:
        return "pending"
    if state.stopped_at is not None:
        return "met" if state.stopped_at <= deadline else "late"
    if state.paused_at is not None:
        return "paused"
    return "breached" if state.breached_at is not None or now >= deadline else "running"


# --- the ladder's messages ------------------------------------------------------------

NOTIFICATION_NAMESPACE = uuid.UUID("3b8e2f0a-6c1d-4e57-9f3a-2d4c5b6a7e81")
LEVEL_LABELS = {"reminder": "催办", "supervision": "督办", "notice": "通报"}
CLOCK_LABELS = {"accept": "签收", "contact": "首次联系", "resolve": "办结", "report_in": "报到"}


def notification_id_for(
    complaint_id: uuid.UUID, round_no: int, unit_id: str, level: str, recipient_role: str
) -> uuid.UUID:
    """One message per complaint, round, unit, rung and recipient, however often the rung is
    raised: a unit whose accept and contact clocks both breach is reminded once."""
    key = f"{complaint_id}:{round_no}:{unit_id}:{level}:{recipient_role}"
    return uuid.uuid5(NOTIFICATION_NAMESPACE, key)


def escalation_text(
    level: str, *, ticket_no: str | None, unit_id: str, clock: str, deadline: str
) -> tuple[str, str]:
    """The subject and text of a rung's message (Chinese, SMS-sized)."""
    label = LEVEL_LABELS.get(level, level)
    what = CLOCK_LABELS.get(clock, clock)
    ticket = ticket_no or "（编号待定）"
    subject = f"【12345{label}】工单 {ticket}"
    if level == "reminder":
        body = f"{subject}：{unit_id} 的{what}时限已于 {deadline} 到期，请尽快办理。"
    elif level == "supervision":
        body = f"{subject}：{unit_id} 的{what}已超时一个工作日仍未办理，请督促落实。"
    else:
        body = f"{subject}：{unit_id} 的{what}超时五个工作日仍未办理，予以通报。"
    return subject, body
