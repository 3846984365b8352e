"""Dispatch's consumers: the event type → handler table."""

from __future__ import annotations

from jiesu_common.contracts import TOPICS
from jiesu_common.runtime import ConsumerSpec
from jiesu_dispatch.handlers import Dispatcher


def consumer_specs(dispatcher: Dispatcher) -> list[ConsumerSpec]:
    """Intake's complaints are routed as they arrive."""
    handlers = {
        "jiesu.complaint.received.v1": dispatcher.route_complaint,
        "jiesu.complaint.withdrawn.v1": dispatcher.withdraw_complaint,
    }
    return [ConsumerSpec(group_id="dispatch.router", topics=[TOPICS["intake"]], handlers=handlers)]
