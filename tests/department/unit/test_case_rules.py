"""The rules of a case's life, without I/O."""

from datetime import UTC, datetime, timedelta

import pytest

from jiesu_department.domain import ActionRefused, CaseState, case_id_for, next_status

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
