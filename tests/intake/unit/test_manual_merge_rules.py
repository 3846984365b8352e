"""Manual merge (合并): which complaint may go into which master."""

import uuid

import pytest

from jiesu_common.contracts.events import ComplaintStatus as S
from jiesu_intake.domain import MergeRefused, check_merge

A, B = uuid.uuid4(), uuid.uuid4()


def refused(**changes: object) -> tuple[str, int]:
    values: dict[str, object] = {
        "complaint_id": A,
        "status": S.assigned,
        "master_id": B,
        "master_status": S.in_progress,
        "has_duplicates": False,
    } | changes
    with pytest.raises(MergeRefused) as caught:
        check_merge(**values)  # type: ignore[arg-type]
    return caught.value.slug, caught.value.status


def test_an_open_complaint_merges_into_another_open_or_resolved_one() -> None:
    for status in (S.received, S.queued, S.consultation, S.assigned, S.accepted, S.in_progress):
        for master in (S.received, S.assigned, S.resolved):
            check_merge(
                complaint_id=A,
                status=status,
                master_id=B,
                master_status=master,
                has_duplicates=False,
            )


def test_merges_that_cannot_be_made_are_refused_with_a_reason() -> None:
    assert refused(master_id=A) == ("merge-into-self", 422)
    for status in (S.resolved, S.closed, S.merged, S.answered, S.withdrawn):
        assert refused(status=status) == ("complaint-not-mergeable", 409)
    for master in (S.closed, S.withdrawn, S.answered):
        assert refused(master_status=master) == ("master-ended", 409)
    assert refused(has_duplicates=True) == ("has-duplicates", 409)
