"""End to end on real processes: the hotline's daily craft (issue 18, parts 1 and 5).

An inquiry answered from a knowledge-base article is counted against that article in the
scorecard, reopen included; a grid worker's patrol find and a hot spot a supervisor turned
into a case both go through dispatch, are handled, reviewed and closed, and count as
proactive (未诉先办) apart from residents' requests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jiesu_common.devstack import DevStack
from tests.e2e.workflow import Platform

ARTICLE = {
    "title": "居住证办理需要哪些材料",
    "body": "办理居住证需携带本人身份证、近期一寸照片及居住地址证明（租房合同或房产证），"
    "到居住地社区服务站申请，十五个工作日内领取。",
    "category_code": "INQUIRY-POLICY",
    "valid_from": "2026-01-01",
}


def _period() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


async def _platform_card(p: Platform) -> dict[str, Any]:
    answer = await p.call(
        "GET", "metrics", "/v1/scorecards", "supervisor", params={"period": _period()}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["platform"])


async def test_inquiries_answered_from_an_article_count_against_it_reopen_included(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    created = await p.call("POST", "intake", "/v1/articles", "admin", body=ARTICLE)
    assert created.status_code == 201, created.text
    article = created.json()
    suggested = await p.call(
        "POST",
        "intake",
        "/v1/articles/suggestions",
        "operator",
        body={"text": "您好，我刚来北京工作，想问一下办居住证要带什么材料？"},
    )
    assert suggested.status_code == 200, suggested.text
    best = suggested.json()["items"][0]
    assert (best["article_id"], best["version"]) == (article["article_id"], 1)

    answered = []
    for phone, satisfaction in (("13800001801", "satisfied"), ("13800001802", "dissatisfied")):
        filed = await p.file(
            {
                "channel": "phone",
                "kind": "inquiry",
                "content": "咨询居住证办理材料",
                "caller": {"phone": phone},
                "article_id": best["article_id"],
                "article_version": best["version"],
            }
        )
        assert filed["status"] == "answered"
        shown = await p.complaint(filed["complaint_id"])
        assert (shown["article_id"], shown["article_version"]) == (article["article_id"], 1)
        review = await p.review_of(filed["complaint_id"], 1)
        assert review["reply"] == ARTICLE["body"]
        await p.complete_review(
            review["review_id"],
            {
                "contacted": True,
                "resolved": satisfaction == "satisfied",
                "satisfaction": satisfaction,
            },
        )
        answered.append(filed["complaint_id"])

    async def counted() -> dict[str, Any] | None:
        uses = (await _platform_card(p))["articles"]
        use = next((a for a in uses if a["article_id"] == article["article_id"]), None)
        return use if use and use["reviewed"] == 2 else None

    use = await p.until(counted, what="the article's direct answers in the scorecard")
    assert (use["answered"], use["reopened"], use["reopen_rate"]) == (2, 1, 0.5)
    assert use["title"] == ARTICLE["title"] and use["direct_answer_rate"] > 0
