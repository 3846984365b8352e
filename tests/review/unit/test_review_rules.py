"""When a review falls due and what its answers lead to."""

from datetime import UTC, datetime

import pytest

from jiesu_review.domain import due_at, outcome_of, reopen_reason


def test_a_review_falls_due_at_the_start_of_the_next_local_day() -> None:
    # 23:30 on the 23rd in Beijing (15:30 UTC): due from 00:00 on the 24th, Beijing time.
    late_evening = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
    assert due_at(late_evening, tz="Asia/Shanghai").astimezone(UTC) == datetime(
        2026, 11, 23, 16, 0, tzinfo=UTC
    )
    # 01:00 on the 24th in Beijing is still the 23rd in UTC: due on the 25th, Beijing time.
    after_midnight = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    assert due_at(after_midnight, tz="Asia/Shanghai").astimezone(UTC) == datetime(
        2026, 11, 24, 16, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("resolved", "satisfaction", "expected"),
    [
        (True, "satisfied", "closed"),
        (True, "basically_satisfied", "closed"),
        (True, "dissatisfied", "reopened"),
        (False, "satisfied", "reopened"),
        (False, "dissatisfied", "reopened"),
    ],
)
def test_unsolved_or_dissatisfied_reopens(resolved: bool, satisfaction: str, expected: str) -> None:
    assert outcome_of(resolved=resolved, satisfaction=satisfaction) == expected


def test_the_reopen_reason_names_both_causes() -> None:
    reason = reopen_reason(resolved=False, satisfaction="dissatisfied")
    assert "未解决" in reason and "不满意" in reason
