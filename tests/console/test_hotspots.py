"""Hot spots: a burst of noise complaints in one community, over weeks of seeded history,
is found at the top of metrics' /v1/hotspots and of the dashboard's hot-spot table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from playwright.async_api import Page, expect

from tests.console.browser import charts_drawn, shoot, sign_in, table_rows
from tests.console.conftest import SEEDED_AT
from tests.e2e.workflow import Platform
from tests.metrics.history import history


def in_history(top: dict[str, Any]) -> int:
    """Seeded noise complaints in 泉水社区 inside the cluster's window."""
    start = datetime.fromisoformat(top["window_start"])
    end = datetime.fromisoformat(top["window_end"])
    assigned = {
        p.complaint_id
        for p in history(now=SEEDED_AT, days=56, per_day=6)
        if type(p).__name__ == "ComplaintAssignedV1"
        and p.jurisdiction.community_code == "C010202"
        and p.category_code == "ENV-NOISE"
    }
    return sum(
        1
        for p in history(now=SEEDED_AT, days=56, per_day=6)
        if type(p).__name__ == "ComplaintReceivedV1"
        and p.complaint_id in assigned
        and start <= p.summary.received_at < end
    )


BURST = [
    ("13600000001", "泉水路8号", "楼下广场舞音响声音太大，晚上十点还不停"),
    ("13600000001", "泉水路8号", "又是那个广场，音箱开到最大，孩子没法写作业"),
    ("13600000002", "泉水路8号", "泉水路8号楼前每晚跳舞放音乐，噪音扰民严重"),
    ("13600000003", "碧水湾小区3号楼", "碧水湾小区旁边工地夜间施工，电锯声吵得睡不着"),
    ("13600000004", "碧水湾小区5号楼", "夜里有人在小区门口飙车，发动机轰鸣"),
    ("13600000005", "龙凤胡同12号", "胡同里的酒吧凌晨还在放重低音"),
    ("13600000006", "光明菜市场", "菜市场凌晨四点卸货，喇叭叫卖很吵"),
    ("13600000007", "育才小学东门", "学校东门外商铺用大喇叭循环播放广告"),
]


async def test_a_burst_in_one_community_tops_the_hot_spots_and_the_page(
    page: Page, platform: Platform, console_url: str
) -> None:
    filed = []
    for phone, address, text in BURST:
        filed.append(
            await platform.file(
                {
                    "channel": "phone",
                    "kind": "complaint",
                    "category_code": "ENV-NOISE",
                    "content": text,
                    "caller": {"phone": phone},
                    "location": {"grid_code": "G01020201", "address": "泉水社区" + address},
                }
            )
        )
    assert not any(f["duplicate_of"] for f in filed)  # distinct enough not to be merged

    async def top_cluster() -> dict[str, Any] | None:
        answer = await platform.call(
            "GET", "metrics", "/v1/hotspots", "supervisor", params={"window": "week"}
        )
        items = answer.json()["items"]
        top = items[0] if items else None
        if top and (top["category_code"], top["place_code"]) == ("ENV-NOISE", "C010202"):
            return top if top["complaints"] == len(BURST) + in_history(top) else None
        return None

    top = await platform.until(top_cluster, timeout=90, what="the burst at the top")
    assert top["repeat_callers"] >= 1 and top["repeat_addresses"] >= 1
    assert top["surprise"] > 3 and top["expected"] < 3

    await sign_in(page, console_url, "supervisor")
    await page.locator("#table-hotspots tbody tr").first.wait_for()
    first = (await table_rows(page, "#table-hotspots"))[0]
    assert first[1:3] == ["噪声扰民", "泉水社区"]
    assert int(first[3]) == top["count"]
    await expect(page.locator("#hotspots select[name=topic]")).to_contain_text(
        "噪声扰民 · 泉水社区"
    )
    await charts_drawn(page, "#hotspots")
    await shoot(page, "#sec-hotspots", "view-hotspots-burst")
    # The burst's clocks are running: the board lists them under "this week", with lights.
    await page.click("#board label.tab:has(input[value=week])")
    await expect(page.locator("#board label.tab.active")).to_contain_text("本周到期")
    await expect(page.locator("#table-board tbody tr").first).to_contain_text("签收")
    await shoot(page, "#sec-board", "view-board-week")
    # The cluster's number opens exactly its complaints.
    await page.locator("#table-hotspots tbody tr").first.locator("a.drill").click()
    await page.locator("#drill-table tbody tr").first.wait_for()
    tickets = {r[0] for r in await table_rows(page, "#drill-table")}
    assert {f["ticket_no"] for f in filed} <= tickets
    assert len(tickets) == top["complaints"]
