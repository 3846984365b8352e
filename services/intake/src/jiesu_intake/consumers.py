"""Intake's consumers: the lifecycle events that keep the public status view current."""

from __future__ import annotations

from jiesu_common.contracts import TOPICS
from jiesu_common.messaging.consumer import Handler
from jiesu_common.runtime import ConsumerSpec
from jiesu_intake.status_view import STATUS_OF, apply_lifecycle_event

# Everything after filing that the timeline shows.
TIMELINE_TYPES = (
    *[t for t in STATUS_OF if not t.startswith("jiesu.complaint.answered")],
    "jiesu.complaint.merged.v1",
    "jiesu.consultation.decided.v1",
    "jiesu.return.approved.v1",
    "jiesu.return.rejected.v1",
    "jiesu.extension.granted.v1",
    "jiesu.extension.denied.v1",
    "jiesu.pause.granted.v1",
    "jiesu.pause.ended.v1",
    "jiesu.reply.sent_back.v1",
    "jiesu.whistle.blown.v1",
    "jiesu.case.returned.v1",
    "jiesu.case.extension_requested.v1",
    "jiesu.whistle.reported.v1",
    "jiesu.review.completed.v1",
    "jiesu.escalation.raised.v1",
)
_OWN = {"jiesu.complaint.merged.v1", "jiesu.complaint.withdrawn.v1", "jiesu.complaint.answered.v1"}


def consumer_specs() -> list[ConsumerSpec]:
    """The status-view projection reads every lifecycle topic but its own."""
    handlers: dict[str, Handler] = {
        t: apply_lifecycle_event for t in TIMELINE_TYPES if t not in _OWN
    }
    topics = [TOPICS[name] for name in ("dispatch", "department", "review", "sla")]
    return [
        ConsumerSpec(
            group_id="intake.status-view", topics=topics, handlers=handlers, on_critical_path=False
        )
    ]
