"""callback-review's consumers: the event type → handler table."""

from __future__ import annotations

from jiesu_common.contracts import TOPICS
from jiesu_common.messaging.consumer import Handler
from jiesu_common.runtime import ConsumerSpec
from jiesu_review.handlers import Reviews


def consumer_specs(reviews: Reviews) -> list[ConsumerSpec]:
    """Resolutions and direct answers open reviews; assignments say who handled each round."""
    table: dict[str, Handler] = {
        "jiesu.case.resolved.v1": reviews.review_resolution,
        "jiesu.complaint.answered.v1": reviews.review_answer,
        "jiesu.complaint.withdrawn.v1": reviews.end_complaint,
        "jiesu.complaint.assigned.v1": reviews.note_assignment,
    }
    topics = [TOPICS["intake"], TOPICS["dispatch"], TOPICS["department"]]
    return [
        ConsumerSpec(
            group_id="review.callbacks",
            topics=topics,
            handlers=table,
            on_critical_path=False,
            background=True,
        )
    ]
