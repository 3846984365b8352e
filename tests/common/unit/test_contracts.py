"""The envelope and payload models: round trips and refusals."""

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from jiesu_common.contracts import EVENT_TYPES, CloudEvent, make_event, parse_payload
from jiesu_common.contracts.events import ComplaintQueuedV1, SlaBreachedV1


def test_every_catalog_event_has_a_versioned_payload() -> None:
    expected = {
        "complaint.received",
        "complaint.merged",
        "complaint.answered",
        "complaint.withdrawn",
        "complaint.supplemented",  # extends DESIGN §4: a resident's word after filing
        "complaint.assigned",
        "complaint.queued",
        "consultation.opened",
        "consultation.decided",
        "return.approved",
        "return.rejected",
        "extension.granted",
        "extension.denied",
        "whistle.blown",
        "case.accepted",
        "case.contacted",
        "case.progressed",
        "case.resolved",
        "case.returned",
        "case.extension_requested",
        "case.whistle_requested",  # extends DESIGN §4: dispatch owns whistles, a street asks
        "whistle.reported",
        "review.completed",
        "complaint.closed",
        "complaint.reopened",
        "sla.warning",
        "sla.breached",
        "escalation.raised",
        # issue 18: pauses, reply review, manual merge
        "case.pause_requested",
        "pause.granted",
        "pause.denied",
        "pause.ended",
        "case.reply_submitted",
        "reply.approved",
        "reply.sent_back",
        "complaint.unmerged",
        "model.promoted",
    }
    names = {t.removeprefix("jiesu.").removesuffix(".v1") for t in EVENT_TYPES}
    assert names == expected
    assert all(cls.__name__.endswith("V1") for cls in EVENT_TYPES.values())


def test_envelope_round_trips_through_bytes() -> None:
    payload = ComplaintQueuedV1(
        complaint_id=uuid.uuid4(), reason="no_rule", detail="x", queued_at=datetime.now(UTC)
    )
    event = make_event(payload, correlation_id="corr-1")
    again = CloudEvent.from_bytes(event.to_bytes())
    assert again.id == event.id
    assert again.subject == str(payload.complaint_id)
    assert again.source == "/jiesu/dispatch"
    assert again.correlationid == "corr-1"
    assert again.traceparent is not None and again.traceparent.startswith("00-")
    assert parse_payload(again) == payload


def test_payloads_reject_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        SlaBreachedV1.model_validate(
            {
                "complaint_id": str(uuid.uuid4()),
                "unit_id": "u",
                "round": 1,
                "clock": "accept",
                "deadline": "2026-01-01T00:00:00Z",
                "breached_at": "2026-01-01T00:00:00Z",
                "phone": "13800000000",
            }
        )


def test_unknown_event_type_is_refused() -> None:
    event = CloudEvent(source="/x", type="jiesu.nothing.v1", subject="s", data={})
    with pytest.raises(LookupError):
        parse_payload(event)
