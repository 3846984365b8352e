"""Intake's pure rules: ticket numbers, duplicate matching, the status projection."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from rapidfuzz import fuzz

from jiesu_common.contracts.events import ComplaintStatus

TERMINAL = {ComplaintStatus.merged, ComplaintStatus.answered, ComplaintStatus.withdrawn}
CLOSED_FOR_DUPLICATES = TERMINAL | {ComplaintStatus.closed}
# Before a unit has replied: the resident can still call it off.
BEFORE_RESOLUTION = {
    ComplaintStatus.received,
    ComplaintStatus.queued,
    ComplaintStatus.consultation,
    ComplaintStatus.assigned,
    ComplaintStatus.accepted,
    ComplaintStatus.in_progress,
}

# Within a round, how far along the workflow each status is.
STAGE_RANK = {
    ComplaintStatus.received: 0,
    ComplaintStatus.queued: 1,
    ComplaintStatus.consultation: 2,
    ComplaintStatus.assigned: 3,
    ComplaintStatus.accepted: 4,
    ComplaintStatus.in_progress: 5,
    ComplaintStatus.resolved: 6,
    ComplaintStatus.closed: 7,
}


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def text_similarity(a: str, b: str) -> float:
    """0..1 likeness of two complaint texts (character level, robust to extra words)."""
    if not a or not b:
        return 0.0
    return max(fuzz.ratio(a, b), 0.9 * fuzz.partial_ratio(a, b)) / 100.0


@dataclass(frozen=True)
class DuplicateCandidate:
    """A recent open complaint that a new one may repeat."""

    complaint_id: uuid.UUID
    ticket_no: str
    master_id: uuid.UUID | None
    text: str
    phone_hash: str | None
    category_code: str | None
    lat: float | None
    lon: float | None
    created_at: datetime


@dataclass(frozen=True)
class DuplicateMatch:
    """The master a new complaint is merged into, and why."""

    master_id: uuid.UUID
    matched: DuplicateCandidate
    reason: str
    similarity: float


def find_duplicate(
    *,
    text: str,
    phone_hash: str | None,
    category_code: str | None,
    lat: float | None,
    lon: float | None,
    candidates: list[DuplicateCandidate],
    radius_m: float,
    min_similarity: float,
) -> DuplicateMatch | None:
    """Same caller, or same category within ``radius_m``, and alike in text: a duplicate."""
    best: DuplicateMatch | None = None
    for cand in candidates:
        reason = _link_reason(cand, phone_hash, category_code, lat, lon, radius_m)
        if reason is None:
            continue
        score = text_similarity(text, cand.text)
        if score < min_similarity or (best is not None and score <= best.similarity):
            continue
        best = DuplicateMatch(cand.master_id or cand.complaint_id, cand, reason, round(score, 3))
    return best


def _link_reason(
    cand: DuplicateCandidate,
    phone_hash: str | None,
    category_code: str | None,
    lat: float | None,
    lon: float | None,
    radius_m: float,
) -> str | None:
    if phone_hash and cand.phone_hash == phone_hash:
        return "same_caller"
    if (
        category_code
        and cand.category_code == category_code
        and None not in (lat, lon, cand.lat, cand.lon)
        and distance_m(lat, lon, cand.lat, cand.lon) <= radius_m  # type: ignore[arg-type]
    ):
        return "nearby_same_category"
    return None


@dataclass(frozen=True)
class StatusPosition:
    """Where a complaint stands: (round, stage) grows monotonically; terminal wins."""

    status: ComplaintStatus
    round: int

    @property
    def key(self) -> tuple[int, int, int]:
        """Sort key: terminal states above everything, then round, then stage."""
        return (1 if self.status in TERMINAL else 0, self.round, STAGE_RANK.get(self.status, 0))


def advance(current: StatusPosition, incoming: StatusPosition) -> StatusPosition:
    """The later of two positions, so any interleaving of topics ends in the same state."""
    return incoming if incoming.key > current.key else current


@dataclass(frozen=True)
class Throttle:
    """A rate-limit decision: allowed or not, the key's next arrival time, when to retry."""

    allowed: bool
    tat: datetime
    retry_after_s: int


def throttle(*, tat: datetime | None, now: datetime, per_minute: int) -> Throttle:
    """GCRA: ``per_minute`` requests per minute, up to a minute's worth in a burst.

    ``tat`` (theoretical arrival time) is the only state: one timestamp per key.
    """
    interval = timedelta(minutes=1) / per_minute
    tolerance = interval * (per_minute - 1)
    start = max(tat or now, now)
    if start - now > tolerance:
        wait = (start - tolerance - now).total_seconds()
        return Throttle(False, start, max(1, math.ceil(wait)))
    return Throttle(True, start + interval, 0)


def supplement_outcome(
    status: ComplaintStatus, *, ends_matter: bool, wants_reopen: bool
) -> Literal["withdraw", "comment", "confirms_fixed", "requests_reopen"]:
    """What the resident's later word does to a complaint in ``status``.

    "It is over" before a unit replied withdraws it; after the reply it confirms the fix
    for the callback review. "Not fixed" after a reply asks the review to reopen (重办 is
    the review's decision, not intake's). Anything else is a comment for the unit.
    """
    if ends_matter and status in BEFORE_RESOLUTION:
        return "withdraw"
    if ends_matter and status is ComplaintStatus.resolved:
        return "confirms_fixed"
    if wants_reopen and status in (ComplaintStatus.resolved, ComplaintStatus.closed):
        return "requests_reopen"
    return "comment"


# A complaint may be merged by hand while it is still being handled, into a master that is
# still open; resolved ones wait for their review, closed ones are over.
MERGEABLE = {
    ComplaintStatus.received,
    ComplaintStatus.queued,
    ComplaintStatus.consultation,
    ComplaintStatus.assigned,
    ComplaintStatus.accepted,
    ComplaintStatus.in_progress,
}
MASTER_ENDED = {ComplaintStatus.closed, ComplaintStatus.withdrawn, ComplaintStatus.answered}


class MergeRefused(Exception):
    """A manual merge that cannot be made; ``slug`` says why, ``status`` the HTTP status."""

    def __init__(self, slug: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.slug, self.message, self.status = slug, message, status


def check_merge(
    *,
    complaint_id: uuid.UUID,
    status: ComplaintStatus,
    master_id: uuid.UUID,
    master_status: ComplaintStatus,
    has_duplicates: bool,
) -> None:
    """合并: the duplicate is open, the master is another open complaint, and the duplicate
    is no master of others (merge those first, or unmerge them)."""
    if complaint_id == master_id:
        raise MergeRefused("merge-into-self", "不能合并到自身 / cannot merge into itself", 422)
    if status not in MERGEABLE:
        raise MergeRefused(
            "complaint-not-mergeable", f"诉求状态为 {status.value}，不能合并 / cannot merge"
        )
    if master_status in MASTER_ENDED:
        raise MergeRefused(
            "master-ended", f"主工单已{master_status.value}，不能并入 / the master is over"
        )
    if has_duplicates:
        raise MergeRefused(
            "has-duplicates", "该诉求本身是其他重复件的主工单 / it is the master of duplicates"
        )
