"""metrics' consumers: every lifecycle topic feeds the clocks and the scorecards."""

from __future__ import annotations

from jiesu_common.contracts import TOPICS
from jiesu_common.messaging.consumer import Handler
from jiesu_common.runtime import ConsumerSpec
from jiesu_metrics.handlers import STOPS, Projector


def handler_table(p: Projector) -> dict[str, Handler]:
    """Event type → projection."""
    table: dict[str, Handler] = {
        "jiesu.complaint.received.v1": p.complaint_received,
        "jiesu.complaint.answered.v1": p.complaint_answered,
        "jiesu.complaint.withdrawn.v1": p.complaint_ended,
        "jiesu.complaint.merged.v1": p.complaint_ended,
        "jiesu.complaint.unmerged.v1": p.complaint_unmerged,
        "jiesu.complaint.closed.v1": p.complaint_ended,
        "jiesu.complaint.assigned.v1": p.complaint_assigned,
        "jiesu.extension.granted.v1": p.extension_granted,
        "jiesu.pause.granted.v1": p.pause_granted,
        "jiesu.pause.ended.v1": p.pause_ended,
        "jiesu.case.returned.v1": p.case_returned,
        "jiesu.return.approved.v1": p.return_decided,
        "jiesu.return.rejected.v1": p.return_decided,
        "jiesu.review.completed.v1": p.review_completed,
        "jiesu.consultation.opened.v1": p.consultation_opened,
        "jiesu.consultation.decided.v1": p.consultation_decided,
        "jiesu.whistle.blown.v1": p.whistle_blown,
        "jiesu.whistle.reported.v1": p.whistle_reported,
    }
    table.update(dict.fromkeys(STOPS, p.case_acted))
    return table


def consumer_specs(projector: Projector) -> list[ConsumerSpec]:
    """One group over every producing service's topic."""
    topics = [TOPICS[name] for name in ("intake", "dispatch", "department", "review")]
    return [
        ConsumerSpec(
            group_id="metrics.projections",
            topics=topics,
            handlers=handler_table(projector),
            on_critical_path=False,
            background=True,
        )
    ]
