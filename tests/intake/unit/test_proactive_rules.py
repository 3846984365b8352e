"""未诉先办: who may file a proactive case, and how it is marked."""

import pytest

from jiesu_common.auth import Principal
from jiesu_common.http import Problem
from jiesu_intake.proactive import origin_of
from jiesu_intake.schemas import ComplaintCreate

GRID_WORKER = Principal(subject="grid_worker:G1", role="grid_worker", grid_code="G1")
SUPERVISOR = Principal(subject="supervisor:1", role="supervisor")
OPERATOR = Principal(subject="operator:1", role="operator")


def body(**extra: object) -> ComplaintCreate:
    return ComplaintCreate.model_validate(
        {"channel": "grid", "kind": "report", "content": "井盖破损", **extra}
    )


def test_a_grid_workers_find_is_a_patrol_case_in_their_grid() -> None:
    origin = origin_of(GRID_WORKER, body())
    assert (origin.proactive, origin.grid_code) == ("patrol", "G1")


@pytest.mark.parametrize(
    ("principal", "extra", "status"),
    [
        (GRID_WORKER, {"location": {"grid_code": "G2"}}, 403),
        (GRID_WORKER, {"channel": "phone"}, 422),
        (SUPERVISOR, {}, 403),
        (OPERATOR, {"hotspot_key": "grid:G1:ROAD-DAMAGE:week"}, 403),
    ],
)
def test_filings_outside_the_rules_are_refused(
    principal: Principal, extra: dict[str, object], status: int
) -> None:
    with pytest.raises(Problem) as refused:
        origin_of(principal, body(**extra))
    assert refused.value.status == status


def test_a_supervisor_turns_a_hot_spot_into_a_case_and_operators_file_as_before() -> None:
    hotspot = body(channel="other", hotspot_key="grid:G1:ROAD-DAMAGE:week")
    assert origin_of(SUPERVISOR, hotspot).proactive == "hotspot"
    assert origin_of(OPERATOR, body(channel="phone")).proactive is None
