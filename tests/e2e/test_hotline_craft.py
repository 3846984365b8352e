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
from tests.e2e.test_readme_walkthrough import run_as_written, walkthrough
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

    async def back_to_dispatch() -> bool:  # the unsolved one goes to dispatch as round 2
        sla = await p.call("GET", "metrics", f"/v1/complaints/{answered[1]}/sla", "supervisor")
        if sla.status_code == 200 and sla.json()["current_round"] == 2:
            return True  # routed to a unit
        params: dict[str, Any] = {"limit": 200}  # or waiting in the queue, however long it is
        while True:
            queue = (
                await p.call("GET", "dispatch", "/v1/dispatch-queue", "dispatcher", params=params)
            ).json()
            if any(q["complaint_id"] == answered[1] for q in queue["items"]):
                return True
            if queue["next"] is None:
                return False
            params["cursor"] = queue["next"]

    await p.until(back_to_dispatch, what="the reopened direct answer back at dispatch")
    assert (use["answered"], use["reopened"], use["reopen_rate"]) == (2, 1, 0.5)
    assert use["title"] == ARTICLE["title"] and use["direct_answer_rate"] > 0


async def _handled_and_closed(p: Platform, complaint_id: str, unit: str) -> None:
    """Dispatched to ``unit`` like any complaint, handled, called back, closed."""
    case = await p.case_of(complaint_id, unit, round_no=1)
    assert case["summary"]["proactive"] in ("patrol", "hotspot")
    await p.handle(case, "已修复，现场复核无误")
    review = await p.review_of(complaint_id, 1)
    await p.complete_review(
        review["review_id"], {"contacted": True, "resolved": True, "satisfaction": "satisfied"}
    )

    async def closed() -> bool:
        return (await p.complaint(complaint_id))["status"] == "closed"

    await p.until(closed, what=f"{complaint_id} closed")


async def test_a_patrol_find_and_a_hot_spot_case_are_dispatched_closed_and_counted_apart(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    before, card_before = await p.scorecard(_period()), await _platform_card(p)
    find = {
        "channel": "grid",
        "kind": "report",
        "category_code": "ROAD-DAMAGE",
        "content": "巡查发现杏林路人行道井盖破损下沉，存在行人绊倒隐患",
    }
    elsewhere = {**find, "location": {"grid_code": "G02020202"}}
    outside = await p.call("POST", "intake", "/v1/complaints", "grid_worker", body=elsewhere)
    assert outside.status_code == 403 and outside.json()["type"].endswith("outside-grid")
    by_phone = await p.call(
        "POST", "intake", "/v1/complaints", "grid_worker", body={**find, "channel": "phone"}
    )
    assert by_phone.status_code == 422
    patrol = await p.call("POST", "intake", "/v1/complaints", "grid_worker", body=find)
    assert patrol.status_code == 201, patrol.text
    own = await p.call("GET", "intake", patrol.headers["Location"], "grid_worker")
    assert (own.json()["proactive"], own.json()["location"]["grid_code"]) == (
        "patrol",
        "G01010101",
    )

    hotspot = {
        "channel": "other",
        "kind": "report",
        "category_code": "ROAD-DAMAGE",
        "title": "热点转办：杏林第2网格道路破损",
        "content": "本周该网格道路破损诉求明显高于往常，请集中排查修复",
        "location": {"grid_code": "G01010102"},
        "hotspot_key": "grid:G01010102:ROAD-DAMAGE:week",
    }
    no_key = {k: v for k, v in hotspot.items() if k != "hotspot_key"}
    refused = await p.call("POST", "intake", "/v1/complaints", "supervisor", body=no_key)
    assert refused.status_code == 403
    not_operator = await p.call("POST", "intake", "/v1/complaints", "operator", body=hotspot)
    assert not_operator.status_code == 403
    opened = await p.call("POST", "intake", "/v1/complaints", "supervisor", body=hotspot)
    assert opened.status_code == 201, opened.text

    for filed in (patrol.json(), opened.json()):
        await _handled_and_closed(p, filed["complaint_id"], "dept-jt")

    async def counted() -> dict[str, Any] | None:
        row = (await p.scorecard(_period())).get("dept-jt", {})
        return (
            row
            if row.get("proactive_reviewed", 0) - _of(before, "proactive_reviewed") == 2
            else None
        )

    row = await p.until(counted, what="the proactive cases in dept-jt's scorecard")
    assert row["proactive_assigned"] - _of(before, "proactive_assigned") == 2
    assert row["proactive_from_hotspots"] - _of(before, "proactive_from_hotspots") == 1
    assert row["proactive_resolved"] - _of(before, "proactive_resolved") == 2
    assert row["reviewed"] == _of(before, "reviewed")  # residents' three rates untouched
    card = await _platform_card(p)
    assert card["proactive_from_hotspots"] - card_before["proactive_from_hotspots"] == 1
    assert card["proactive_from_patrols"] - card_before["proactive_from_patrols"] == 1


def _of(card: dict[str, dict[str, Any]], field: str) -> int:
    return int(card.get("dept-jt", {}).get(field, 0))


async def test_the_readme_craft_walkthrough_runs_as_written(stack: DevStack) -> None:
    lines = await run_as_written(stack, walkthrough("craft-walkthrough"))
    assert lines[0] == "[('灵活就业人员如何缴纳基本养老保险', 1)]"
    assert lines[1] == "answered 1"
    assert lines[2] == "[('灵活就业人员如何缴纳基本养老保险', 1, 1, 0.0)]"
    assert lines[3:5] == ["assigned dept-jt patrol", "assigned dept-jt hotspot"]
    # The other tests of the session add their own proactive cases to dept-jt's month.
    assert lines[5].startswith("[('dept-jt', ")
