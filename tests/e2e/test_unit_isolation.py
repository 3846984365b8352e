"""A unit's staff cannot read, list, stream or act on another unit's cases."""

import asyncio
from typing import Any

from jiesu_common.devstack import DevStack
from tests.e2e.workflow import Platform, StreamWatcher

OWNER, OTHER = "dept-jt", "dept-hj"
ACTIONS = {
    "accept": {},
    "contact": {"method": "phone"},
    "progress": {"note": "进展"},
    "resolve": {"reply": "已处理"},
    "return": {"reason": "不是我们的"},
    "extension-request": {"until": "2099-01-01T00:00:00+08:00", "reason": "需要时间"},
    "caller": {"reason": "回电"},
}


async def test_another_units_case_is_invisible_and_untouchable(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    owner_stream, other_stream = StreamWatcher(p, OWNER), StreamWatcher(p, OTHER)
    owner_stream.start()
    other_stream.start()
    await asyncio.sleep(1.0)
    filed = await p.file_road_damage(
        "隔离测试：解放路路面塌陷一个大坑", phone="13311112222", grid="G01010101"
    )
    case = await p.case_of(filed["complaint_id"], OWNER, round_no=1)
    path = f"/v1/cases/{case['case_id']}"
    intruder = f"unit:{OTHER}"

    assert (await p.call("GET", "department", path, intruder)).status_code == 404
    listed = await p.call(
        "GET",
        "department",
        "/v1/cases",
        intruder,
        params={"complaint_id": filed["complaint_id"], "unit_id": OWNER},
    )
    assert listed.status_code == 200 and listed.json()["items"] == []
    for action, body in ACTIONS.items():
        answer = await p.call("POST", "department", f"{path}/{action}", intruder, body=body)
        assert answer.status_code == 404, (action, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    sla = await p.call("GET", "metrics", f"/v1/complaints/{filed['complaint_id']}/sla", intruder)
    assert sla.status_code == 404

    # The owner sees it on its stream; the other unit's stream never carries it.
    await p.until(lambda: _seen(owner_stream, case["case_id"]), what="owner's stream", timeout=30)
    await asyncio.sleep(1.0)
    assert case["case_id"] not in other_stream.first_seen
    await owner_stream.stop()
    await other_stream.stop()

    # And nothing the intruder tried changed the case: the owner still finds it untouched.
    shown = await p.call("GET", "department", path, f"unit:{OWNER}")
    assert shown.status_code == 200
    assert shown.json()["status"] == "assigned"
    assert [h["action"] for h in shown.json()["history"]] == ["assigned"]
    reveals = await p.call("GET", "department", f"{path}/caller-reveals", f"unit:{OWNER}")
    assert reveals.json()["items"] == []


async def _seen(watcher: StreamWatcher, case_id: str) -> bool:
    return case_id in watcher.first_seen


async def test_the_owner_sees_the_phone_number_only_through_an_audited_reveal(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    filed = await p.file_road_damage(
        "审计测试：和平路井盖缺失很危险", phone="13344445555", grid="G01010102", name="李四"
    )
    case = await p.case_of(filed["complaint_id"], OWNER, round_no=1)
    path = f"/v1/cases/{case['case_id']}"
    owner = f"unit:{OWNER}"
    shown = await p.call("GET", "department", path, owner)
    assert "13344445555" not in shown.text and "李四" not in shown.text  # masked in the case

    revealed = await p.call(
        "POST", "department", f"{path}/caller", owner, body={"reason": "回电核实"}
    )
    assert revealed.status_code == 200, revealed.text
    assert revealed.json()["phone"] == "13344445555"
    audit = (await p.call("GET", "department", f"{path}/caller-reveals", owner)).json()["items"]
    assert [(a["unit_id"], a["revealed_by"], a["reason"]) for a in audit] == [
        (OWNER, f"unit_staff:{OWNER}", "回电核实")
    ]
    # A supervisor may read the audit but not reveal the number.
    refused = await p.call("POST", "department", f"{path}/caller", "supervisor", body={})
    assert refused.status_code == 403


async def test_a_reviewer_sees_the_number_only_while_the_callback_is_pending(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    filed = await p.file_road_damage(
        "回访测试：民主路人行道地砖松动", phone="13366667777", grid="G01010103"
    )
    case = await p.case_of(filed["complaint_id"], OWNER, round_no=1)
    await p.handle(case, "已重新铺设地砖")
    review = await p.review_of(filed["complaint_id"], 1)
    path = f"/v1/reviews/{review['review_id']}"
    unit = await p.call("POST", "review", f"{path}/caller", f"unit:{OWNER}", body={})
    assert unit.status_code == 403
    revealed = await p.call("POST", "review", f"{path}/caller", "reviewer", body={"reason": "回访"})
    assert revealed.status_code == 200 and revealed.json()["phone"] == "13366667777"
    await p.complete_review(
        review["review_id"], {"contacted": True, "resolved": True, "satisfaction": "satisfied"}
    )
    late = await p.call("POST", "review", f"{path}/caller", "reviewer", body={})
    assert late.status_code == 409
    audit = (await p.call("GET", "review", f"{path}/caller-reveals", "reviewer")).json()["items"]
    assert [(a["revealed_by"], a["reason"]) for a in audit] == [("reviewer:dev", "回访")]
