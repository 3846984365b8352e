"""The rules of webhooks (pure: no I/O): event types, secrets, the retry schedule."""

from __future__ import annotations

import base64
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

# What a case change is called on the wire: the action in the case's history → event type.
_EVENT_OF_ACTION = {
    "assigned": "case.assigned",
    "summoned": "case.summoned",
    "accept": "case.accepted",
    "contact": "case.contacted",
    "progress": "case.progressed",
    "resolve": "case.resolved",
    "return": "case.returned",
    "extension-request": "case.extension_requested",
    "return_approved": "case.return_approved",
    "return_rejected": "case.return_rejected",
    "extension_granted": "case.extension_granted",
    "extension_denied": "case.extension_denied",
    "withdrawn": "case.withdrawn",
    "superseded": "case.withdrawn",
    "supplemented": "case.supplemented",
    "whistle": "case.whistle_blown",
    "whistle_blown": "case.whistle_blown",
    "report-in": "case.reported_in",
    "reply_approved": "case.resolved",  # a reviewed reply counts as resolved when approved
}
CASE_UPDATED = "case.updated"
EventType = Literal[
    "case.assigned",
    "case.summoned",
    "case.accepted",
    "case.contacted",
    "case.progressed",
    "case.resolved",
    "case.returned",
    "case.extension_requested",
    "case.return_approved",
    "case.return_rejected",
    "case.extension_granted",
    "case.extension_denied",
    "case.withdrawn",
    "case.supplemented",
    "case.whistle_blown",
    "case.reported_in",
    "case.updated",
]
SECRET_PREFIX = "whsec_"


def event_type_of(action: str | None) -> str:
    """The webhook event type of a case action (``case.updated`` for an unnamed change)."""
    if action is None:
        return CASE_UPDATED
    return _EVENT_OF_ACTION.get(action, CASE_UPDATED)


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: ``whsec_`` + base64 of 32 bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


def new_webhook_id() -> str:
    """The ``webhook-id`` of a delivery: the same on every attempt of it."""
    return f"msg_{uuid.uuid4().hex}"


def webhook_body(event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """The JSON body of a delivery, as the Standard Webhooks payload structure."""
    return json.dumps(
        {"type": event_type, "timestamp": at.astimezone(UTC).isoformat(), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: attempt n+1 waits ``base · factor^(n-1)`` (capped) after
    attempt n; after ``max_attempts`` failures the delivery is dead."""

    base_s: float = 60.0
    factor: float = 3.0
    cap_s: float = 8 * 3600.0
    max_attempts: int = 9

    def delay_after(self, attempt: int) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (1-based); None: it is dead."""
        if attempt >= self.max_attempts:
            return None
        return float(min(self.base_s * self.factor ** (attempt - 1), self.cap_s))

    def schedule(self) -> list[float]:
        """Every wait between attempts, in order."""
        delays = []
        for attempt in range(1, self.max_attempts):
            delay = self.delay_after(attempt)
            assert delay is not None
            delays.append(delay)
        return delays

    def span(self) -> timedelta:
        """From the first attempt to the last."""
        return timedelta(seconds=sum(self.schedule()))


def should_disable(consecutive_dead: int, *, disable_after: int) -> bool:
    """A subscription whose deliveries died ``disable_after`` times in a row is disabled."""
    return consecutive_dead >= disable_after
