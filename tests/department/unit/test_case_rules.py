"""The rules of a case's life, without I/O."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from jiesu_department.domain import (
    ActionRefused,
    CaseState,
    case_id_for,
    check_report_in,
    check_whistle,
    next_status,
    summons_case_id,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def case(**changes: object) -> CaseState:
    values: dict[str, object] = {
        "status": "assigned",
        "role": "lead",
        "contacted": False,
        "extension_pending": False,
        "return_by": NOW + timedelta(hours=1),
        "resolve_by": NOW + timedelta(days=3),
    } | changes
    return CaseState(**values)  # type: ignore[arg-type]


def refused(state: CaseState, action: str, now: datetime = NOW) -> str:
    with pytest.raises(ActionRefused) as caught:
        next_status(state, action, now)  # type: ignore[arg-type]
    return caught.value.slug


def test_a_case_moves_from_assigned_through_accepted_and_in_progress_to_resolved() -> None:
    assert next_status(case(), "accept", NOW) == "accepted"
    assert next_status(case(status="accepted"), "contact", NOW) == "in_progress"
    assert next_status(case(status="in_progress", contacted=True), "progress", NOW) == "in_progress"
    assert next_status(case(status="in_progress"), "resolve", NOW) == "resolved"


def test_nothing_but_accept_or_return_before_the_case_is_accepted() -> None:
    for action in ("contact", "progress", "resolve", "extension-request"):
        assert refused(case(), action) == "not-accepted"
    assert refused(case(status="accepted"), "accept") == "already-accepted"


def test_first_contact_is_recorded_once() -> None:
    assert refused(case(status="in_progress", contacted=True), "contact") == "already-contacted"


def test_the_lead_may_return_within_the_window_only() -> None:
    assert next_status(case(), "return", NOW) == "returned"
    assert next_status(case(status="accepted"), "return", NOW) == "returned"
    late = NOW + timedelta(hours=2)
    assert refused(case(), "return", late) == "return-window-closed"
    assert refused(case(role="co"), "return") == "co-unit-cannot-return"


def test_an_extension_is_refused_after_the_deadline_or_while_one_is_pending() -> None:
    accepted = case(status="accepted")
    assert next_status(accepted, "extension-request", NOW) == "accepted"
    after = NOW + timedelta(days=4)
    assert refused(accepted, "extension-request", after) == "deadline-passed"
    pending = case(status="accepted", extension_pending=True)
    assert refused(pending, "extension-request") == "extension-pending"


@pytest.mark.parametrize("status", ["resolved", "returned", "withdrawn"])
def test_a_closed_case_takes_no_action(status: str) -> None:
    for action in ("accept", "contact", "resolve", "return"):
        assert refused(case(status=status), action) == "case-not-open"


def test_case_ids_are_stable_per_assignment_and_unit() -> None:
    import uuid

    assignment = uuid.uuid4()
    assert case_id_for(assignment, "dept-jt") == case_id_for(assignment, "dept-jt")
    assert case_id_for(assignment, "dept-jt") != case_id_for(assignment, "dept-hj")


def test_a_lead_unit_decided_by_consultation_cannot_return() -> None:
    assert refused(case(mode="consultation"), "return") == "decided-by-consultation"
    assert next_status(case(mode="manual"), "return", NOW) == "returned"


def whistle_problems(**changes: object) -> list[str]:
    values: dict[str, object] = {
        "status": "accepted",
        "caller_unit": "street-s0101",
        "caller_kind": "street_office",
        "summoned": ["dept-jt", "dept-hj"],
        "known_units": {"street-s0101", "dept-jt", "dept-hj"},
        "report_by": NOW + timedelta(hours=2),
        "now": NOW,
    } | changes
    return check_whistle(**values)  # type: ignore[arg-type]


def test_only_a_street_office_with_an_open_case_blows_the_whistle() -> None:
    assert whistle_problems() == []
    for changes, slug in (
        ({"caller_kind": "department"}, "whistle-street-office-only"),
        ({"caller_kind": None}, "whistle-street-office-only"),
        ({"status": "resolved"}, "case-not-open"),
    ):
        with pytest.raises(ActionRefused) as caught:
            whistle_problems(**changes)
        assert caught.value.slug == slug


def test_a_whistle_names_existing_other_units_once_and_a_future_report_by() -> None:
    assert len(whistle_problems(report_by=NOW)) == 1
    assert len(whistle_problems(summoned=["street-s0101"])) == 1
    assert len(whistle_problems(summoned=["dept-nowhere"])) == 1
    assert len(whistle_problems(summoned=["dept-jt", "dept-jt"])) == 1


def test_only_a_summons_reports_in_and_only_once() -> None:
    whistle = uuid.uuid4()
    check_report_in(status="assigned", whistle_id=whistle, reported=False)
    for kwargs, slug in (
        ({"status": "assigned", "whistle_id": None, "reported": False}, "not-a-summons"),
        ({"status": "accepted", "whistle_id": whistle, "reported": True}, "already-reported"),
        ({"status": "withdrawn", "whistle_id": whistle, "reported": False}, "case-not-open"),
    ):
        with pytest.raises(ActionRefused) as caught:
            check_report_in(**kwargs)  # type: ignore[arg-type]
        assert caught.value.slug == slug
    assert summons_case_id(whistle, "dept-jt") == summons_case_id(whistle, "dept-jt")
    assert summons_case_id(whistle, "dept-jt") != summons_case_id(whistle, "dept-hj")


def test_a_pause_is_asked_once_at_a_time_by_the_lead_unit_before_the_deadline() -> None:
    accepted = case(status="accepted")
    assert next_status(accepted, "pause-request", NOW) == "accepted"
    assert refused(case(), "pause-request") == "not-accepted"
    assert refused(case(status="accepted", role="co"), "pause-request") == "co-unit-cannot-pause"
    assert refused(case(status="accepted", pause_status="pending"), "pause-request") == (
        "pause-pending"
    )
    paused = case(status="accepted", pause_status="paused", paused_until=NOW + timedelta(days=1))
    assert refused(paused, "pause-request") == "already-paused"
    assert next_status(paused, "pause-request", NOW + timedelta(days=2)) == "accepted"
    late = NOW + timedelta(days=4)
    assert refused(accepted, "pause-request", late) == "deadline-passed"
    assert refused(case(status="resolved"), "pause-request") == "case-not-open"


def test_a_pause_moves_the_work_deadlines_but_not_the_return_window() -> None:
    from jiesu_department.domain import shift_deadlines

    at = NOW.isoformat()
    moved = shift_deadlines(
        {"accept_by": at, "contact_by": at, "resolve_by": at, "return_by": at}, timedelta(hours=5)
    )
    later = (NOW + timedelta(hours=5)).isoformat()
    assert moved == {"accept_by": later, "contact_by": later, "resolve_by": later, "return_by": at}


def test_a_reviewed_reply_keeps_the_case_open_and_waits_once() -> None:
    reviewed = case(status="accepted", reply_review_required=True)
    assert next_status(reviewed, "resolve", NOW) == "in_progress"
    pending = case(status="in_progress", reply_review_required=True, reply_review="pending")
    assert refused(pending, "resolve") == "reply-pending"
    sent_back = case(status="in_progress", reply_review_required=True, reply_review="sent_back")
    assert next_status(sent_back, "resolve", NOW) == "in_progress"
