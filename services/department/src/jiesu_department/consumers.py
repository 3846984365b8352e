"""department-response's consumers: the event type → handler table."""

from __future__ import annotations

from jiesu_common.contracts import TOPICS
from jiesu_common.messaging.consumer import Handler
from jiesu_common.runtime import ConsumerSpec
from jiesu_department import collaboration, handlers


def consumer_specs() -> list[ConsumerSpec]:
    """Assignments and whistles open cases; decisions, withdrawals, supplements change them;
    participants see their consultations."""
    table: dict[str, Handler] = {
        "jiesu.complaint.assigned.v1": handlers.open_cases,
        "jiesu.return.approved.v1": handlers.apply_return_decision,
        "jiesu.return.rejected.v1": handlers.apply_return_decision,
        "jiesu.extension.granted.v1": handlers.apply_extension_decision,
        "jiesu.extension.denied.v1": handlers.apply_extension_decision,
        "jiesu.pause.granted.v1": handlers.apply_pause_decision,
        "jiesu.pause.denied.v1": handlers.apply_pause_decision,
        "jiesu.pause.ended.v1": handlers.apply_pause_decision,
        "jiesu.reply.approved.v1": handlers.apply_reply_review,
        "jiesu.reply.sent_back.v1": handlers.apply_reply_review,
        "jiesu.complaint.withdrawn.v1": handlers.close_out_withdrawn,
        "jiesu.complaint.merged.v1": handlers.close_out_withdrawn,
        "jiesu.complaint.supplemented.v1": handlers.note_supplement,
        "jiesu.complaint.queued.v1": collaboration.end_consultations,
        "jiesu.consultation.opened.v1": collaboration.note_consultation_opened,
        "jiesu.consultation.decided.v1": collaboration.note_consultation_decided,
        "jiesu.whistle.blown.v1": collaboration.open_summons_cases,
    }
    return [
        ConsumerSpec(
            group_id="department.cases",
            topics=[TOPICS["dispatch"], TOPICS["intake"]],
            handlers=table,
            # Every filing is an intake event; the unit acts on few of them (withdrawals,
            # merges, supplements) and nobody waits on those within half a second: read once
            # a window while events flow, so filings do not wake the cases' short fetches.
            slow_topics=[TOPICS["intake"]],
        )
    ]
