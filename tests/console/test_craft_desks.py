"""Pauses (挂起), reply templates and reply review at the desks, in a real browser.

A unit keeps a reply template; asks to pause a case and the dispatcher grants it; resumes
it; fills its reply from the template and submits it for review; the dispatcher sends it
back with a note, the unit replies again, and the approval resolves the case. Screenshots
go to test-artifacts/console/.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.async_api import Browser, expect

from tests.console.browser import desk_page, sign_in, sign_in_as_unit
from tests.console.conftest import ARTIFACTS
from tests.e2e.workflow import Platform

pytestmark = [__import__("pytest").mark.e2e]
UNIT = "dept-jt"
POLICY = "/v1/reply-review-policy"


async def test_a_pause_and_a_reviewed_reply_at_the_unit_and_dispatch_desks(
    browser: Browser, platform: Platform, console_url: str
) -> None:
    put = await platform.call("PUT", "dispatch", POLICY, "dispatcher", body={"unit_ids": [UNIT]})
    assert put.status_code == 200, put.text
    try:
        await _at_the_desks(browser, platform, console_url)
    finally:
        await platform.call("PUT", "dispatch", POLICY, "dispatcher", body={})


async def _at_the_desks(browser: Browser, platform: Platform, console_url: str) -> None:
    mark = uuid.uuid4().hex[:6]
    unit = await desk_page(browser)
    await sign_in_as_unit(unit, console_url, UNIT)
    await unit.locator("#link-templates").click()
    await unit.fill("#form-template input[name=title]", f"路面修复{mark}")
    await unit.select_option("#form-template select[name=category_code]", "ROAD-DAMAGE")
    await unit.fill("#form-template textarea[name=body]", "您反映的问题{phone}")
    await unit.locator("#form-template button").click()
    await expect(unit.locator("#form-template .form-error")).to_contain_text("phone")
    await unit.fill(
        "#form-template textarea[name=body]",
        "您于{received_date}反映的路面问题（{ticket_no}）已修复。",
    )
    await unit.locator("#form-template button").click()
    await expect(unit.locator("#table-templates")).to_contain_text(f"路面修复{mark}")

    filed = await platform.file_road_damage(
        f"解放路人行道塌陷（{mark}）", phone=f"133{uuid.uuid4().int % 10**8:08d}", grid="G01010101"
    )
    case = await platform.case_of(filed["complaint_id"], UNIT, round_no=1)
    case_url = f"{console_url}/unit/cases/{case['case_id']}"
    await unit.goto(case_url)
    await expect(unit.locator("#reply-review-tag")).to_have_text("答复须经中心审核")
    await unit.locator("#form-accept button").click()
    await unit.fill("#form-pause-request input[name=reason]", f"等待诉求人补充照片{mark}")
    await unit.locator("#form-pause-request button").click()
    await expect(unit.locator("#pause-tag")).to_have_text("挂起审批中")

    desk = await desk_page(browser)
    await sign_in(desk, console_url, "dispatcher")
    row = desk.locator("#table-pauses tr", has_text=f"等待诉求人补充照片{mark}")
    await expect(row).to_be_visible(timeout=30_000)
    await row.locator("a").click()
    await desk.check("#form-pauses input[value=grant]")
    await desk.locator("#form-pauses button[type=submit]").click()
    await expect(desk.locator("#done")).to_contain_text("已批准挂起")

    async def paused() -> Any:
        await unit.goto(case_url)
        return "已挂起" in (await unit.locator("#sec-case").inner_text())

    await platform.until(paused, what="the case shown paused", timeout=30)
    await unit.screenshot(path=str(ARTIFACTS / "unit-case-paused.png"), full_page=True)
    await unit.locator("#form-resume button").click()

    async def resumed() -> Any:
        await unit.goto(case_url)
        return await unit.locator("#pause-tag").count() == 0

    await platform.until(resumed, what="the case resumed", timeout=30)

    await unit.select_option("#form-template select[name=template_id]", label=f"路面修复{mark}")
    await unit.locator("#form-template button").click()
    reply = unit.locator("#form-resolve textarea[name=reply]")
    ticket = re.escape(filed["ticket_no"])
    await expect(reply).to_have_value(
        re.compile(rf"^您于\d{{4}}年\d{{2}}月\d{{2}}日反映的路面问题（{ticket}）已修复。$")
    )
    await expect(unit.locator("#form-resolve button")).to_have_text("提交审核")
    await unit.locator("#form-resolve button").click()
    await expect(unit.locator("#reply-review-tag")).to_have_text("答复待中心审核")

    await desk.goto(f"{console_url}/dispatch")
    row = desk.locator("#table-replies tr", has_text=filed["ticket_no"])
    await expect(row).to_be_visible(timeout=30_000)
    await row.locator("a").click()
    await desk.check("#form-replies input[value=send_back]")
    await desk.fill("#form-replies input[name=note]", "请写明修复日期")
    await desk.screenshot(path=str(ARTIFACTS / "dispatch-reply-review.png"), full_page=True)
    await desk.locator("#form-replies button[type=submit]").click()
    await expect(desk.locator("#done")).to_contain_text("答复已退回单位")

    async def sent_back() -> Any:
        await unit.goto(case_url)
        return await unit.locator("#reply-sent-back").count() == 1

    await platform.until(sent_back, what="the reply sent back", timeout=30)
    await expect(unit.locator("#reply-sent-back")).to_contain_text("请写明修复日期")
    await unit.screenshot(path=str(ARTIFACTS / "unit-reply-sent-back.png"), full_page=True)
    await reply.fill(f"{filed['ticket_no']} 已于今日修复。")
    await unit.locator("#form-resolve button").click()
    await expect(unit.locator("#reply-review-tag")).to_have_text("答复待中心审核")

    await desk.goto(f"{console_url}/dispatch")
    row = desk.locator("#table-replies tr", has_text="已于今日修复")
    await expect(row).to_be_visible(timeout=30_000)
    await row.locator("a").click()
    await desk.check("#form-replies input[value=approve]")
    await desk.locator("#form-replies button[type=submit]").click()
    await expect(desk.locator("#done")).to_contain_text("答复已审核通过")

    async def resolved() -> Any:
        await unit.goto(case_url)
        return (await unit.locator("#case-status").inner_text()) == "已办结"

    await platform.until(resolved, what="the approved reply resolving the case", timeout=30)
    assert unit.csp_violations == [] and desk.csp_violations == []  # type: ignore[attr-defined]
    for page in (desk, unit):
        await page.context.close()
