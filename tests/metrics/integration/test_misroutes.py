"""错派: a complaint's first lead unit against the lead unit of the round it closed in."""

import uuid
from typing import Any

import httpx

from jiesu_common.contracts.events import ComplaintClosedV1, ReturnApprovedV1
from tests.metrics.integration.test_collaboration_metrics import metrics, project, scorecard
from tests.metrics.integration.test_metrics_api import bearer
from tests.metrics.scenario import assigned, at, case

__all__ = ["metrics"]  # the fixture, shared with the collaboration tests


def categorised(cid: uuid.UUID, rnd: int, lead: str, category: str, start: float) -> Any:
    return assigned(cid, 1, rnd, lead, (), start).model_copy(update={"category_code": category})


def closed(cid: uuid.UUID, rnd: int, minutes: float) -> ComplaintClosedV1:
    return ComplaintClosedV1(complaint_id=cid, round=rnd, closed_at=at(minutes))


async def report(client: httpx.AsyncClient, by: str) -> dict[str, Any]:
    answer = await client.get(
        "/v1/scorecards/misroutes",
        params={"period": "2026-11", "by": by},
        headers=bearer("supervisor"),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def counts(body: dict[str, Any]) -> dict[str, tuple[int, int, float | None]]:
    return {i["key"]: (i["closed"], i["misrouted"], i["misroute_rate"]) for i in body["items"]}


async def test_a_complaint_closed_by_another_unit_than_its_first_is_a_misroute_of_the_first(
    metrics: httpx.AsyncClient,
) -> None:
    returned, reassigned, kept = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = [
        # Returned by dept-jt, re-routed to gov-d01 under another category, closed there.
        categorised(returned, 1, "dept-jt", "ROAD-DAMAGE", 0),
        ReturnApprovedV1(
            **case(returned, 1, "dept-jt", None),  # type: ignore[arg-type]
            return_id=uuid.uuid4(),
            decided_by="dispatcher:1",
            decided_at=at(30),
        ),
        categorised(returned, 2, "gov-d01", "ROAD-LIGHT", 31),
        closed(returned, 2, 900),
        # Reassigned by the centre without a return, then closed by the new lead.
        categorised(reassigned, 1, "dept-jt", "ROAD-DAMAGE", 0),
        categorised(reassigned, 2, "dept-cg-d01", "ROAD-DAMAGE", 60),
        closed(reassigned, 2, 900),
        # Closed by the unit it was first sent to.
        categorised(kept, 1, "dept-jt", "ROAD-DAMAGE", 0),
        closed(kept, 1, 900),
    ]
    await project(metrics, *events)
    by_unit = await report(metrics, "unit")
    assert counts(by_unit) == {"dept-jt": (3, 2, 0.6667)}
    assert by_unit["items"][0]["taken_over_by"] == [
        {"unit_id": "dept-cg-d01", "closed": 1},
        {"unit_id": "gov-d01", "closed": 1},
    ]
    assert (by_unit["closed"], by_unit["misrouted"]) == (3, 2)
    by_category = await report(metrics, "category")  # the category it closed under
    assert counts(by_category) == {"ROAD-DAMAGE": (2, 1, 0.5), "ROAD-LIGHT": (1, 1, 1.0)}
    row = (await scorecard(metrics, "unit"))["dept-jt"]
    assert (row["first_assigned_closed"], row["misrouted"]) == (3, 2)
    assert row["first_assignment_misroute_rate"] == 0.6667
    street = (await scorecard(metrics, "street"))["S0101"]
    assert (street["first_assigned_closed"], street["misrouted"]) == (3, 2)

    await project(metrics, *events)  # redelivered: nothing counts twice
    assert await report(metrics, "unit") == by_unit
    assert await report(metrics, "category") == by_category
    assert (await scorecard(metrics, "unit"))["dept-jt"]["misrouted"] == 2


async def test_a_close_seen_before_its_rounds_assignment_counts_once_that_arrives(
    metrics: httpx.AsyncClient,
) -> None:
    cid = uuid.uuid4()
    # The review's topic ahead of dispatch's: the closing round is not known yet.
    await project(metrics, categorised(cid, 1, "dept-jt", "ROAD-DAMAGE", 0), closed(cid, 2, 900))
    assert (await report(metrics, "unit"))["items"] == []
    await project(metrics, categorised(cid, 2, "gov-d01", "ROAD-DAMAGE", 60))
    assert counts(await report(metrics, "unit")) == {"dept-jt": (1, 1, 1.0)}
    # Closed in November, so nothing in December.
    december = await metrics.get(
        "/v1/scorecards/misroutes", params={"period": "2026-12"}, headers=bearer("supervisor")
    )
    assert december.json() == {
        "period": "2026-12",
        "by": "unit",
        "items": [],
        "closed": 0,
        "misrouted": 0,
        "misroute_rate": None,
    }


async def test_bad_misroute_queries_are_problems(metrics: httpx.AsyncClient) -> None:
    for params in ({"period": "2026-13"}, {"period": "2026-11", "by": "street"}, {}):
        answer = await metrics.get(
            "/v1/scorecards/misroutes", params=params, headers=bearer("supervisor")
        )
        assert answer.status_code == 422, params
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert (
        await metrics.get("/v1/scorecards/misroutes", params={"period": "2026-11"})
    ).status_code == 401
