"""The shared language of the services: the envelope and the versioned payloads."""

from jiesu_common.contracts.envelope import TOPICS, CloudEvent, EventPayload, make_event
from jiesu_common.contracts.events import EVENT_TYPES, PAYLOADS

__all__ = ["EVENT_TYPES", "PAYLOADS", "TOPICS", "CloudEvent", "EventPayload", "make_event"]


def parse_payload(event: CloudEvent) -> EventPayload:
    """Validate an envelope's data against the payload model its type names."""
    model = EVENT_TYPES.get(event.type)
    if model is None:
        raise LookupError(f"unknown event type {event.type!r}")
    return model.model_validate(event.data)
