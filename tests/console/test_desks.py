"""The three desks in a real browser against a real stack: README's walkthrough, by hand.

A dispatcher assigns a queued complaint; the unit returns it; the dispatcher approves the
return and sends it on; the new unit signs for, contacts and resolves it; the callback
operator records a dissatisfied review; the unit gets it back as reopened, resolves it again,
and the next review closes it. Every step is checked on the page and in the services' APIs;
screenshots of each desk go to test-artifacts/console/.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Browser, Page, expect

from jiesu_common.calendar import zone
from tests.console.browser import (
    desk_page,
    not_reloaded,
    sign_in,
    sign_in_as_unit,
    still_the_same_page,
)
from tests.console.conftest import ARTIFACTS
from tests.e2e.workflow import Platform

pytestmark = [__import__("pytest").mark.e2e]
TZ = zone("Asia/Shanghai")
NEW_UNIT = "gov-d01"  # 清河区人民政府, where the dispatcher sends the returned complaint


async def api(platform: Platform, service: str, path: str, who: str, **params: Any) -> Any:
    answer = await platform.call("GET", service, path, who, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def complaint_status(platform: Platform, complaint_id: str) -> str:
    return str((await platform.complaint(complaint_id))["status"])


async def no_raw_phone(page: Page, phone: str) -> None:
    html = await page.content()
    assert phone not in html, "a raw phone number outside the audited reveal"


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def test_the_walkthrough_by_hand_through_the_three_desks(
    browser: Browser, platform: Platform, console_url: str
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    mark = uuid.uuid4().hex[:6]

    # --- 派单台: a complaint nobody can classify shows up in the queue without a reload ---
    desk = await desk_page(browser)
    other = await desk_page(browser)  # a second dispatcher, watching the same queue
    await sign_in(desk, console_url, "dispatcher")
    await expect(desk).to_have_url(re.compile(r"/dispatch$"))
    await sign_in(other, console_url, "dispatcher")
    await still_the_same_page(desk)
    await still_the_same_page(other)
    filed = await platform.file(
        {
            "channel": "phone",
            "kind": "complaint",
            # Road or noise? The classifier is not sure enough: a dispatcher decides.
            "content": f"门口路面塌陷，夜里还有噪音（{mark}），请尽快处理",
            "caller": {"name": "张三", "phone": phone},
            "location": {"address": "杏林路18号"},
        }
    )
    cid = filed["complaint_id"]
    row = desk.locator(f"#table-queue tr[data-complaint-id='{cid}']")
    await expect(row).to_be_visible(timeout=30_000)
    await expect(other.locator(f"#table-queue tr[data-complaint-id='{cid}']")).to_be_visible()
    assert await complaint_status(platform, cid) == "queued"
    assert await not_reloaded(desk)
    await no_raw_phone(desk, phone)
    await shot(desk, "desk-dispatch")

    await row.locator("a").click()
    await expect(desk.locator("#sec-complaint")).to_contain_text(mark)
    await expect(desk.locator("#sec-complaint")).to_contain_text("杏林路18号")
    await expect(desk.locator("#timeline")).to_contain_text("待人工派单")  # intake's timeline
    hints = desk.locator("#table-suggestions tbody tr")
    await expect(hints.first).to_have_attribute("data-category", "ROAD-DAMAGE")
    await expect(hints.first).to_contain_text("67%")
    await expect(hints.first).to_contain_text("临江市交通委员会")  # the rule that would apply
    await expect(hints.nth(1)).to_have_attribute("data-category", "ENV-NOISE")
    await no_raw_phone(desk, phone)
    # An empty lead: the API's refusal beside the field, nothing assigned.
    await desk.locator("#form-assign button[type=submit]").click()
    await expect(desk.locator("#form-assign [data-error-for=lead_unit_id]")).to_contain_text(
        "未知单位"
    )
    assert await complaint_status(platform, cid) == "queued"
    await desk.fill("#form-assign input[name=lead_unit_id]", "临江市交通委员会（dept-jt）")
    # The first suggestion is already the chosen category.
    await expect(desk.locator("#form-assign select[name=category_code]")).to_have_value(
        "ROAD-DAMAGE"
    )
    await desk.fill("#form-assign input[name=note]", "来电人补充了地址")
    await shot(desk, "desk-dispatch-assign")
    await desk.press("#form-assign input[name=note]", "Enter")
    await expect(desk.locator("#done")).to_contain_text("已派单")
    await still_the_same_page(desk)  # back on the desk: the return will show up here

    async def assigned_in_intake() -> dict[str, Any] | None:
        # Intake's status view reads dispatch's event on its own group, a moment later.
        shown = await platform.complaint(cid)
        return shown if shown["status"] == "assigned" else None

    shown = await platform.until(assigned_in_intake, what="intake showing the assignment")
    assert (shown["status"], shown["lead_unit_id"]) == ("assigned", "dept-jt")
    # Taken by the first dispatcher: it leaves the second one's queue without a reload.
    await expect(other.locator(f"tr[data-complaint-id='{cid}']")).to_have_count(0)
    assert await not_reloaded(other)

    # --- 单位工作台: the transport bureau returns it, with a reason and evidence ---
    jt = await desk_page(browser)
    await sign_in_as_unit(jt, console_url, "dept-jt")
    await expect(jt).to_have_url(re.compile(r"/unit$"))
    jt_case = await platform.case_of(cid, "dept-jt", round_no=1)
    await jt.locator(f"tr[data-case-id='{jt_case['case_id']}'] a.case-link").click()
    await expect(jt.locator("#case-status")).to_have_text("待签收")
    await no_raw_phone(jt, phone)
    await jt.locator("#form-return button[type=submit]").click()
    await expect(jt.locator("#form-return [data-error-for=reason]")).to_be_visible()
    await expect(jt.locator("#case-status")).to_have_text("待签收")
    case = await api(platform, "department", f"/v1/cases/{jt_case['case_id']}", "unit:dept-jt")
    assert case["status"] == "assigned"
    await jt.fill("#form-return textarea[name=reason]", "该路段为小区内部道路，不属交通局管养")
    await jt.fill("#form-return input[name=evidence]", "道路权属图")
    await jt.locator("#form-return button[type=submit]").click()
    await expect(jt.locator("#case-status")).to_have_text("已退单")
    case = await api(platform, "department", f"/v1/cases/{jt_case['case_id']}", "unit:dept-jt")
    assert case["status"] == "returned"

    # --- 派单台: the return appears without a reload; approved, sent to the district ---
    gov = await desk_page(browser)  # the new unit's workbench, open before the approval
    await sign_in_as_unit(gov, console_url, NEW_UNIT)
    await expect(gov.locator("#live-state")).to_have_text("实时：已连接")
    await still_the_same_page(gov)
    ret = desk.locator(f"#table-returns tr[data-complaint-id='{cid}']")
    await expect(ret).to_be_visible(timeout=30_000)
    assert await not_reloaded(desk)
    await expect(ret).to_contain_text("不属交通局管养")
    await ret.locator("a").click()
    await expect(desk.locator("[data-field=evidence]")).to_have_text("道路权属图")
    await desk.locator("#form-returns button[type=submit]").click()  # no decision picked
    await expect(desk.locator("#form-returns [data-error-for=decision]")).to_be_visible()
    pending = await api(platform, "dispatch", "/v1/returns", "dispatcher", complaint_id=cid)
    assert [r["status"] for r in pending["items"]] == ["pending"]
    await desk.check("#form-returns input[value=approve]")
    await desk.fill("#form-returns input[name=lead_unit_id]", NEW_UNIT)
    await desk.fill("#form-returns input[name=note]", "核实属实，改派属地")
    await desk.press("#form-returns input[name=note]", "Enter")
    await expect(desk.locator("#done")).to_contain_text("已同意退单")
    decided = await api(
        platform, "dispatch", "/v1/returns", "dispatcher", complaint_id=cid, status="approved"
    )
    assert decided["items"][0]["new_lead_unit_id"] == NEW_UNIT

    # --- 单位工作台 (the district): live, the audited reveal, 签收, 联系, 办结 ---
    gov_case = await platform.case_of(cid, NEW_UNIT, round_no=2)
    gov_row = gov.locator(f"tr[data-case-id='{gov_case['case_id']}']")
    await expect(gov_row).to_be_visible(timeout=30_000)  # over the unit's SSE feed
    assert await not_reloaded(gov)
    await expect(gov_row.locator("td").first).to_contain_text("签收")
    await expect(gov_row.locator("[data-deadline]")).to_contain_text("剩余")
    await no_raw_phone(gov, phone)
    await gov_row.locator("a.case-link").click()
    await no_raw_phone(gov, phone)
    await gov.fill("#form-caller input[name=reason]", "回电核实位置")
    await gov.locator("#form-caller button[type=submit]").click()
    await expect(gov.locator("#revealed .phone")).to_have_text(phone)
    await expect(gov.locator("#revealed")).to_contain_text("查看（已留痕）")
    subject = f"console-dev:unit_staff:{NEW_UNIT}"
    await expect(gov.locator("#reveal-audit")).to_contain_text(subject)
    reveals = await api(
        platform,
        "department",
        f"/v1/cases/{gov_case['case_id']}/caller-reveals",
        f"unit:{NEW_UNIT}",
    )
    assert [r["revealed_by"] for r in reveals["items"]] == [subject]
    await gov.goto(f"{console_url}/unit/cases/{gov_case['case_id']}")
    await no_raw_phone(gov, phone)  # the number was on that one answer only
    await expect(gov.locator("#reveal-audit")).to_contain_text("回电核实位置")

    await gov.locator("#form-accept button").click()
    await expect(gov.locator("#case-status")).to_have_text("已签收")
    await gov.select_option("#form-contact select[name=method]", "phone")
    await gov.fill("#form-contact input[name=note]", "已与诉求人通话")
    await gov.press("#form-contact input[name=note]", "Enter")
    await expect(gov.locator("#case-status")).to_have_text("办理中")
    await gov.locator("#form-resolve button").click()  # no reply: refused beside the field
    await expect(gov.locator("#form-resolve [data-error-for=reply]")).to_be_visible()
    case = await api(platform, "department", f"/v1/cases/{gov_case['case_id']}", f"unit:{NEW_UNIT}")
    assert (case["status"], case["resolved_at"]) == ("in_progress", None)
    await gov.fill("#form-resolve textarea[name=reply]", "已安排施工队回填路面并设置警示")
    await gov.select_option("#form-resolve select[name=result]", "solved")
    await gov.locator("#form-resolve button").click()
    await expect(gov.locator("#case-status")).to_have_text("已办结")
    await expect(gov.locator("#timeline")).to_contain_text("办结")
    case = await api(platform, "department", f"/v1/cases/{gov_case['case_id']}", f"unit:{NEW_UNIT}")
    assert case["status"] == "resolved" and case["accepted_at"] and case["contacted_at"]

    # Another unit's case does not exist for the transport bureau, in the console too.
    refused = await jt.goto(f"{console_url}/unit/cases/{gov_case['case_id']}")
    assert refused is not None and refused.status == 404
    await expect(jt.locator(".forbidden")).to_contain_text("未找到")
    # A malformed id in the address is no such case either, not a failed service.
    malformed = await jt.goto(f"{console_url}/unit/cases/not-a-case-id")
    assert malformed is not None and malformed.status == 404
    await expect(jt.locator(".forbidden")).to_contain_text("未找到")

    # --- 回访台: the resident is not satisfied → reopened at once ---
    review = await platform.review_of(cid, 2)
    rv = await desk_page(browser)
    await sign_in(rv, console_url, "reviewer")
    await expect(rv).to_have_url(re.compile(r"/review$"))
    rv_row = rv.locator(f"#table-reviews tr[data-review-id='{review['review_id']}']")
    await expect(rv_row).to_be_visible(timeout=30_000)
    await no_raw_phone(rv, phone)
    await shot(rv, "desk-review")
    await rv_row.locator("a").click()
    await expect(rv.locator("[data-field=reply]")).to_have_text("已安排施工队回填路面并设置警示")
    await expect(rv.locator("[data-field=content]")).to_contain_text(mark)
    await no_raw_phone(rv, phone)
    await rv.locator("#form-caller button[type=submit]").click()
    await expect(rv.locator("#revealed .phone")).to_have_text(phone)
    await expect(rv.locator("#reveal-audit")).to_contain_text("console-dev:reviewer")
    await rv.locator("#form-review button[type=submit]").click()  # nothing picked
    await expect(rv.locator("#form-review [data-error-for=contacted]")).to_be_visible()
    await expect(rv.locator("#form-review [data-error-for=satisfaction]")).to_be_visible()
    await no_raw_phone(rv, phone)
    still = await api(platform, "review", f"/v1/reviews/{review['review_id']}", "reviewer")
    assert still["status"] == "pending"
    await rv.check("#form-review input[name=contacted][value=true]")
    await rv.check("#form-review input[name=resolved][value=false]")
    await rv.check("#form-review input[name=satisfaction][value=dissatisfied]")
    await rv.fill("#form-review textarea[name=comment]", "坑只填了一半")
    await shot(rv, "desk-review-form")
    await rv.locator("#form-review button[type=submit]").click()
    await expect(rv.locator("#outcome")).to_have_attribute("data-outcome", "reopened")
    await expect(rv.locator("#outcome")).to_contain_text("已重办")
    done = await api(platform, "review", f"/v1/reviews/{review['review_id']}", "reviewer")
    assert (done["outcome"], done["satisfaction"]) == ("reopened", "dissatisfied")

    # --- the case comes back to the district as reopened, without a reload ---
    await gov.goto(f"{console_url}/unit")
    await expect(gov.locator("#live-state")).to_have_text("实时：已连接")
    await still_the_same_page(gov)
    reopened = await platform.case_of(cid, NEW_UNIT, round_no=3)
    again = gov.locator(f"tr[data-case-id='{reopened['case_id']}']")
    await expect(again).to_be_visible(timeout=30_000)
    await expect(again).to_contain_text("第3轮")
    assert await not_reloaded(gov)
    await no_raw_phone(gov, phone)
    await shot(gov, "desk-unit")
    await again.locator("a.case-link").click()
    await expect(gov.locator("#case-round")).to_contain_text("第3轮")
    await gov.evaluate("window.scrollTo(0, 0)")
    await shot(gov, "desk-unit-case")
    await gov.locator("#form-accept button").click()
    await expect(gov.locator("#case-status")).to_have_text("已签收")
    await gov.fill("#form-contact input[name=note]", "上门查看")
    await gov.select_option("#form-contact select[name=method]", "visit")
    await gov.locator("#form-contact button").click()
    await gov.fill("#form-resolve textarea[name=reply]", "路面已全部修复")
    await gov.locator("#form-resolve button").click()
    await expect(gov.locator("#case-status")).to_have_text("已办结")

    # --- and the next callback closes it ---
    last = await platform.review_of(cid, 3)
    await rv.goto(f"{console_url}/review/{last['review_id']}")
    await rv.check("#form-review input[name=contacted][value=true]")
    await rv.check("#form-review input[name=resolved][value=true]")
    await rv.check("#form-review input[name=satisfaction][value=satisfied]")
    await rv.press("#form-review textarea[name=comment]", "Enter")  # a newline, not a submit
    await rv.locator("#form-review button[type=submit]").press("Enter")
    await expect(rv.locator("#outcome")).to_have_attribute("data-outcome", "closed")

    async def closed() -> bool:
        return await complaint_status(platform, cid) == "closed"

    await platform.until(closed, what="the complaint closed in intake")
    final = await platform.complaint(cid)
    assert final["round"] == 3
    for page in (desk, other, jt, gov, rv):
        assert page.csp_violations == []  # type: ignore[attr-defined]
        await page.context.close()


async def test_a_street_office_blows_the_whistle_and_the_department_reports_in(
    browser: Browser, platform: Platform, console_url: str
) -> None:
    mark = uuid.uuid4().hex[:6]
    filed = await platform.file(
        {
            "channel": "phone",
            "kind": "complaint",
            "content": f"泉水路垃圾堆放点占道发臭（{mark}）",
            "category_code": "CITY-GARBAGE",
            "caller": {"phone": f"135{uuid.uuid4().int % 10**8:08d}"},
            "location": {"grid_code": "G01010201"},
        }
    )
    cid = filed["complaint_id"]
    street_case = await platform.case_of(cid, "street-s0101", round_no=1)
    street = await desk_page(browser)
    await sign_in_as_unit(street, console_url, "street-s0101")
    await street.goto(f"{console_url}/unit/cases/{street_case['case_id']}")
    await street.locator("#form-whistle button").click()  # nobody summoned, no deadline
    await expect(street.locator("#form-whistle [data-error-for=unit_ids]")).to_be_visible()
    await expect(street.locator("#form-whistle [data-error-for=report_by]")).to_be_visible()
    none = await api(platform, "dispatch", "/v1/whistles", "dispatcher", complaint_id=cid)
    assert none["items"] == []
    report_by = (datetime.now(UTC) + timedelta(hours=2)).astimezone(TZ)
    await street.select_option("#form-whistle select[name=unit_ids]", ["dept-sj-d01"])
    await street.fill("#form-whistle input[name=report_by]", report_by.strftime("%Y-%m-%dT%H:%M"))
    await street.fill("#form-whistle input[name=ask]", "请到现场联合处置")
    await street.press("#form-whistle input[name=ask]", "Enter")
    await expect(street.locator("#timeline")).to_contain_text("吹哨")

    async def blown() -> Any:
        found = await api(platform, "dispatch", "/v1/whistles", "dispatcher", complaint_id=cid)
        return found["items"]

    [whistle] = await platform.until(blown, what="the whistle in dispatch")
    assert whistle["summoned_unit_ids"] == ["dept-sj-d01"]
    # The time typed in the hotline's zone reached the API as that moment.
    assert datetime.fromisoformat(whistle["report_by"]) == report_by.replace(
        second=0, microsecond=0
    )

    async def summoned() -> Any:
        found = await api(platform, "department", "/v1/cases", "unit:dept-sj-d01", complaint_id=cid)
        return found["items"]

    [summons] = await platform.until(summoned, what="the summons case")
    sj = await desk_page(browser)
    await sign_in_as_unit(sj, console_url, "dept-sj-d01")
    row = sj.locator(f"tr[data-case-id='{summons['case_id']}']")
    await expect(row).to_contain_text("吹哨报到")
    await row.locator("a.case-link").click()
    await expect(sj.locator("#sec-case")).to_contain_text("请到现场联合处置")
    await sj.locator("#form-report-in button").click()
    await expect(sj.locator("#timeline")).to_contain_text("报到")
    await expect(sj.locator("#form-report-in")).to_have_count(0)
    shown = await api(platform, "department", f"/v1/cases/{summons['case_id']}", "unit:dept-sj-d01")
    assert shown["reported_at"] is not None

    desk = await desk_page(browser)
    await sign_in(desk, console_url, "dispatcher")
    listed = desk.locator(f"#table-whistles tr[data-complaint-id='{cid}']")
    await expect(listed).to_contain_text("请到现场联合处置")
    await expect(listed).to_contain_text("已报到", timeout=40_000)
    for page in (street, sj, desk):
        await page.context.close()


async def test_a_consultation_is_decided_and_an_extension_granted_at_the_desks(
    browser: Browser, platform: Platform, console_url: str
) -> None:
    # Restaurant smoke in 柳荫街道: two rules claim it, so routing convenes both units.
    mark = uuid.uuid4().hex[:6]
    filed = await platform.file(
        {
            "channel": "phone",
            "kind": "complaint",
            "category_code": "ENV-SMOKE",
            "content": f"杏林路一家烧烤店油烟直排，熏得整栋楼没法开窗（{mark}）",
            "caller": {"phone": f"137{uuid.uuid4().int % 10**8:08d}"},
            "location": {"address": "杏林路20号"},
        }
    )
    cid = filed["complaint_id"]

    async def convened() -> Any:
        found = await api(platform, "dispatch", "/v1/consultations", "dispatcher", complaint_id=cid)
        return found["items"]

    [consultation] = await platform.until(convened, what="the consultation")
    con_id = consultation["consultation_id"]
    said = await platform.call(
        "POST",
        "dispatch",
        f"/v1/consultations/{con_id}/positions",
        "unit:dept-cg-d01",
        body={"position": "co_handle", "reason": "可配合查处占道经营"},
    )
    assert said.status_code == 201, said.text
    # The environment bureau says it leads, from its workbench's invitations.
    hj = await desk_page(browser)
    await sign_in_as_unit(hj, console_url, "dept-hj")
    invited = hj.locator(f"#table-unit-consultations tr[data-consultation-id='{con_id}']")
    await invited.locator("a").click()
    await hj.locator("#form-position button[type=submit]").click()  # nothing said
    await expect(hj.locator("#form-position [data-error-for=position]")).to_be_visible()
    await hj.check("#form-position input[value=lead]")
    await hj.fill("#form-position input[name=reason]", "油烟排放由我局监测执法")
    await hj.press("#form-position input[name=reason]", "Enter")
    await expect(hj.locator("#table-positions tr[data-unit='dept-hj']")).to_contain_text("愿主办")
    shown = await api(platform, "dispatch", f"/v1/consultations/{con_id}", "dispatcher")
    assert shown["latest_positions"] == {"dept-cg-d01": "co_handle", "dept-hj": "lead"}

    desk = await desk_page(browser)
    await sign_in(desk, console_url, "dispatcher")
    row = desk.locator(f"#table-consultations tr[data-consultation-id='{con_id}']")
    await expect(row).to_contain_text("愿主办")
    await expect(row).to_contain_text("愿协办")
    await row.locator("a").click()
    await expect(desk.locator("#table-positions")).to_contain_text("油烟排放由我局监测执法")
    await desk.locator("#form-consultations button[type=submit]").click()  # no lead
    await expect(desk.locator("#form-consultations [data-error-for=lead_unit_id]")).to_be_visible()
    still = await api(platform, "dispatch", f"/v1/consultations/{con_id}", "dispatcher")
    assert still["status"] == "open"
    await desk.fill("#form-consultations input[name=lead_unit_id]", "dept-hj")
    await desk.select_option("#form-consultations select[name=co_unit_ids]", ["dept-cg-d01"])
    await desk.fill("#form-consultations input[name=note]", "按会商意见")
    await desk.press("#form-consultations input[name=note]", "Enter")
    await expect(desk.locator("#done")).to_contain_text("会商已决定")
    decided = await api(platform, "dispatch", f"/v1/consultations/{con_id}", "dispatcher")
    assert (decided["status"], decided["lead_unit_id"], decided["co_unit_ids"]) == (
        "decided",
        "dept-hj",
        ["dept-cg-d01"],
    )

    # The lead signs for it and asks for more time; the dispatcher grants it.
    hj_case = await platform.case_of(cid, "dept-hj", round_no=decided["round"])
    await hj.goto(f"{console_url}/unit/cases/{hj_case['case_id']}")
    await hj.locator("#form-accept button").click()
    await expect(hj.locator("#case-status")).to_have_text("已签收")
    until = (datetime.now(UTC) + timedelta(days=20)).astimezone(TZ)
    await hj.fill("#form-extension-request input[name=until]", until.strftime("%Y-%m-%dT%H:%M"))
    await hj.locator("#form-extension-request button").click()  # no reason
    await expect(hj.locator("#form-extension-request [data-error-for=reason]")).to_be_visible()
    await hj.fill("#form-extension-request input[name=reason]", "需协调餐饮店加装净化设备")
    await hj.press("#form-extension-request input[name=reason]", "Enter")
    await expect(hj.locator("#sec-case")).to_contain_text("延期审批中")

    await desk.goto(f"{console_url}/dispatch")
    ext = desk.locator("#table-extensions tr", has_text="需协调餐饮店加装净化设备")
    await expect(ext).to_be_visible(timeout=30_000)
    await ext.locator("a").click()
    await desk.check("#form-extensions input[value=grant]")
    await desk.locator("#form-extensions button[type=submit]").click()
    await expect(desk.locator("#done")).to_contain_text("已批准延期")
    granted = await api(
        platform, "dispatch", "/v1/extensions", "dispatcher", complaint_id=cid, status="granted"
    )
    assert [e["case_id"] for e in granted["items"]] == [hj_case["case_id"]]
    for page in (desk, hj):
        await page.context.close()
