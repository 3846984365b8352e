"""Dispatch's consumers: the event type → handler table."""

from __future__ import annotations

from jiesu_common.contracts import TOPICS
from jiesu_common.messaging.consumer import Handler
from jiesu_common.runtime import ConsumerSpec
from jiesu_dispatch.case_requests import CaseRequests
from jiesu_dispatch.consultations import Consultations
from jiesu_dispatch.handlers import Dispatcher
from jiesu_dispatch.learning.service import ModelAnnouncements
from jiesu_dispatch.loopback import LoopBack


def consumer_specs(dispatcher: Dispatcher) -> list[ConsumerSpec]:
    """Complaints are routed as they arrive; returns, extensions, reopens and whistles come back."""
    loop = LoopBack(dispatcher)
    requests = CaseRequests()
    handlers: dict[str, Handler] = {
        "jiesu.complaint.received.v1": dispatcher.route_complaint,
        "jiesu.complaint.answered.v1": dispatcher.remember_answer,
        "jiesu.complaint.withdrawn.v1": dispatcher.withdraw_complaint,
        "jiesu.complaint.merged.v1": dispatcher.withdraw_complaint,
        "jiesu.complaint.unmerged.v1": loop.unmerge_complaint,
        "jiesu.case.returned.v1": loop.record_return,
        "jiesu.case.extension_requested.v1": loop.record_extension_request,
        "jiesu.case.pause_requested.v1": requests.record_pause_request,
        "jiesu.case.reply_submitted.v1": requests.record_reply,
        "jiesu.complaint.reopened.v1": loop.reopen_complaint,
        "jiesu.complaint.closed.v1": loop.close_complaint,
        "jiesu.case.whistle_requested.v1": Consultations(dispatcher).record_whistle,
    }
    topics = [TOPICS["intake"], TOPICS["department"], TOPICS["review"]]
    # Every replica hears every model announcement: a consumer group of its own.
    announcements: dict[str, Handler] = {
        "jiesu.model.promoted.v1": ModelAnnouncements(dispatcher.models).switch
    }
    return [
        # Filings are routed at once; units' and reviews' events (returns, requests,
        # reopens: a person or a clock acts on them next) are read once a window while
        # complaints flow, so they do not wake the router's short fetches.
        ConsumerSpec(
            group_id="dispatch.router",
            topics=topics,
            handlers=handlers,
            slow_topics=[TOPICS["department"], TOPICS["review"]],
        ),
        ConsumerSpec(
            group_id=f"dispatch.models.{dispatcher.settings.replica()}",
            topics=[TOPICS["dispatch"]],
            handlers=announcements,
            on_critical_path=False,
            background=True,
            dlq_group="dispatch.models",
        ),
    ]
