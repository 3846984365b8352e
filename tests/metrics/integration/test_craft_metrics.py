"""Direct answers per knowledge-base article and proactive cases, as the scorecard counts them."""

import uuid
from typing import Any

import httpx

from jiesu_common.contracts.events import (
    ComplaintAnsweredV1,
    ComplaintReceivedV1,
    ReviewCompletedV1,
)
from tests.metrics.integration.test_collaboration_metrics import metrics, project  # noqa: F401
from tests.metrics.integration.test_metrics_api import bearer
from tests.metrics.scenario import assigned, at, summary

NS = uuid.UUID("0b7f3f4e-5a0c-4d0e-9f50-18a000000001")
ARTICLE = uuid.uuid5(NS, "article")


def inquiry(n: int) -> Any:
    return summary(n).model_copy(update={"kind": "inquiry"})


def answered(cid: uuid.UUID, n: int, version: int) -> ComplaintAnsweredV1:
    return ComplaintAnsweredV1(
        complaint_id=cid,
        ticket_no=f"20261102{n:06d}",
        answer="按条目答复",
        answered_by="operator:1",
        answered_at=at(5),
        summary=inquiry(n),
        article_id=ARTICLE,
        article_version=version,
        article_title=f"条目第{version}版",
    )


def reviewed(cid: uuid.UUID, lead: str | None, resolved: bool, satisfaction: str) -> Any:
    return ReviewCompletedV1(
        complaint_id=cid,
        review_id=uuid.uuid5(cid, "review"),
        round=1,
        lead_unit_id=lead,
        contacted=True,
        resolved=resolved,
        satisfaction=satisfaction,
        reviewer="reviewer:1",
        completed_at=at(60),
    )


async def test_direct_answers_and_their_reopens_count_per_article(
    metrics: httpx.AsyncClient,  # noqa: F811
) -> None:
    ids = [uuid.uuid5(NS, f"inquiry-{n}") for n in range(4)]
    await project(
        metrics,
        answered(ids[0], 1, 1),
        answered(ids[1], 2, 2),
        ComplaintReceivedV1(complaint_id=ids[2], summary=inquiry(3)),  # not answered
        ComplaintReceivedV1(complaint_id=ids[3], summary=inquiry(4)),
        reviewed(ids[0], None, True, "satisfied"),
        reviewed(ids[1], None, False, "dissatisfied"),
    )
    platform = (await card(metrics))["platform"]
    assert (platform["inquiries"], platform["answered"]) == (4, 2)
    [use] = platform["articles"]
    assert (use["article_id"], use["title"], use["latest_version"]) == (
        str(ARTICLE),
        "条目第2版",
        2,
    )
    assert (use["answered"], use["direct_answer_rate"]) == (2, 0.5)
    assert (use["reviewed"], use["reopened"], use["reopen_rate"]) == (2, 1, 0.5)


async def test_proactive_cases_count_apart_from_residents_three_rates(
    metrics: httpx.AsyncClient,  # noqa: F811
) -> None:
    resident, patrol, spot = (uuid.uuid5(NS, name) for name in ("resident", "patrol", "spot"))
    marks = {resident: None, patrol: "patrol", spot: "hotspot"}
    payloads: list[Any] = []
    for n, (cid, mark) in enumerate(marks.items(), start=1):
        round_one = assigned(cid, n, 1, "dept-jt", (), 1)
        s = round_one.summary.model_copy(update={"proactive": mark})
        payloads += [
            ComplaintReceivedV1(complaint_id=cid, summary=s),
            round_one.model_copy(update={"summary": s}),
            reviewed(cid, "dept-jt", mark is not None, "satisfied"),
        ]
    await project(metrics, *payloads)
    found = await card(metrics)
    row = {r["key"]: r for r in found["items"]}["dept-jt"]
    assert (row["reviewed"], row["resolved"], row["resolution_rate"]) == (1, 0, 0.0)
    assert (row["proactive_assigned"], row["proactive_from_hotspots"]) == (2, 1)
    assert (row["proactive_from_patrols"], row["proactive_reviewed"]) == (1, 2)
    assert row["proactive_resolution_rate"] == 1.0
    platform = found["platform"]
    assert (platform["proactive_from_hotspots"], platform["proactive_from_patrols"]) == (1, 1)


async def card(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get(
        "/v1/scorecards", params={"period": "2026-11"}, headers=bearer("supervisor")
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())
