"""The supervisors' dashboard in a real browser against a real stack (Debian's chromium).

Each test signs in through the development sign-in page and asserts what a person sees;
screenshots of every view go to test-artifacts/console/.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Any

from playwright.async_api import Page, expect

from jiesu_common.calendar import zone
from tests.console.browser import (
    charts_drawn,
    shoot,
    sign_in,
    sign_in_as_unit,
    table_rows,
)
from tests.console.conftest import ARTIFACTS, SEEDED_AT
from tests.e2e.workflow import Platform
from tests.metrics.history import history

pytestmark = [__import__("pytest").mark.e2e]
TZ = zone("Asia/Shanghai")
VIEWS = ("kpis", "trends", "rankings", "board", "quality", "map", "hotspots")


def month_label(moment: datetime) -> str:
    local = moment.astimezone(TZ)
    return f"{local.year:04d}-{local.month:02d}"


def previous_month(moment: datetime) -> str:
    local = moment.astimezone(TZ).replace(day=1)
    return f"{local.year - (local.month == 1):04d}-{(local.month - 2) % 12 + 1:02d}"


async def road_complaint(platform: Platform, text: str) -> dict[str, Any]:
    """A damaged road in 杏林路: the seeded rules give it to the transport bureau."""
    filed = await platform.file(
        {
            "channel": "phone",
            "kind": "complaint",
            "category_code": "ROAD-DAMAGE",
            "content": text,
            "caller": {"phone": f"137{uuid.uuid4().int % 10**8:08d}"},
            "location": {"address": "杏林路18号"},
        }
    )
    return filed


async def metrics_get(platform: Platform, path: str, **params: Any) -> Any:
    answer = await platform.call("GET", "metrics", path, "supervisor", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_supervisor_signs_in_and_sees_the_kpi_cards_and_a_ranking(
    page: Page, platform: Platform, console_url: str
) -> None:
    await sign_in(page, console_url, "supervisor")
    await expect(page).to_have_url(re.compile(r"/dashboard$"))
    await expect(page.locator(".crumbs")).to_contain_text("监督考核驾驶舱")
    kpis = await metrics_get(platform, "/v1/dashboard/kpis")
    closed = page.locator('[data-kpi=closed] [data-kpi-value="month"]')
    await expect(closed).to_have_text(f"{kpis['values']['month']['closed']:,}")
    card = page.locator("[data-kpi=satisfaction_rate]")
    assert "分母" in (await card.get_attribute("title") or "")  # formula and denominator on hover
    # Last month: weeks of seeded history, so every unit has a sample.
    period = previous_month(SEEDED_AT)
    await page.goto(f"{console_url}/dashboard?period={period}")
    ranking = await metrics_get(
        platform, "/v1/dashboard/rankings", period=period, metric="composite", min_sample=3
    )
    rows = await _rows_when_loaded(page, "#table-rankings", len(ranking["items"]))
    assert [r[0] for r in rows] == [
        str(i["rank"]) if i["ranked"] else "—" for i in ranking["items"]
    ]
    assert rows[0][0] == "1"
    await expect(page.locator("#rankings .note")).to_contain_text("分母")
    await expect(page.locator("#rankings .note")).to_contain_text("计算时间")
    for view in VIEWS:
        await page.locator(f"#{view} :is(table, .kpi-grid, .chart)").first.wait_for()
        await charts_drawn(page, f"#{view}")
        await shoot(page, f"#sec-{view}", f"view-{view}")
    # 错派率 per category under the dispatch-quality view: metrics' figures, row for row.
    misroutes = await metrics_get(
        platform, "/v1/scorecards/misroutes", period=period, by="category"
    )
    rows = await _rows_when_loaded(page, "#table-misroutes", len(misroutes["items"]))
    if misroutes["items"]:
        assert [r[1:3] for r in rows] == [
            [f"{i['closed']:,}", f"{i['misrouted']:,}"] for i in misroutes["items"]
        ]
    await page.screenshot(path=str(ARTIFACTS / "dashboard-full.png"), full_page=True)
    assert page.csp_violations == []  # type: ignore[attr-defined]


async def _rows_when_loaded(page: Page, selector: str, count: int) -> list[list[str]]:
    await expect(page.locator(f"{selector} tbody tr")).to_have_count(max(count, 1))
    return await table_rows(page, selector)


async def test_a_closed_complaint_changes_the_figures_without_a_reload(
    page: Page, platform: Platform, console_url: str
) -> None:
    await sign_in(page, console_url, "supervisor")
    await expect(page.locator("#live-state")).to_have_text("实时：已连接")
    filed_today = page.locator('[data-kpi=filed] [data-kpi-value="today"]')
    closed_today = page.locator('[data-kpi=closed] [data-kpi-value="today"]')
    await expect(closed_today).to_be_visible()
    before_filed = int((await filed_today.inner_text()).replace(",", ""))
    before_closed = int((await closed_today.inner_text()).replace(",", ""))
    await page.evaluate("window.__no_reload = 'still the same page'")

    complaint = await road_complaint(platform, "杏林路18号门口井盖缺失，夜里有人踩空")
    await expect(filed_today).to_have_text(str(before_filed + 1), timeout=60_000)
    case = await platform.case_of(complaint["complaint_id"], "dept-jt", round_no=1)
    await platform.handle(case, "已补装井盖并设置警示")
    review = await platform.review_of(complaint["complaint_id"], 1)
    await platform.complete_review(
        review["review_id"], {"contacted": True, "resolved": True, "satisfaction": "satisfied"}
    )
    await expect(closed_today).to_have_text(str(before_closed + 1), timeout=60_000)
    live = page.locator("#live-feed [data-live-kind=closed]")
    await expect(live.first).to_contain_text(complaint["ticket_no"], timeout=30_000)
    assert await page.evaluate("window.__no_reload") == "still the same page"
    await shoot(page, "#sec-live", "view-live")


async def test_drilling_into_a_ranking_row_lists_exactly_that_units_complaints(
    page: Page, platform: Platform, console_url: str
) -> None:
    filed = await road_complaint(platform, "杏林路18号人行道砖松动，老人差点绊倒")
    await platform.case_of(filed["complaint_id"], "dept-jt", round_no=1)

    async def seen_by_metrics() -> bool:
        found = await metrics_get(
            platform, "/v1/dashboard/complaints", measure="assigned", unit="dept-jt"
        )
        return any(c["complaint_id"] == filed["complaint_id"] for c in found["items"])

    await platform.until(seen_by_metrics, what="the assignment in metrics")
    await sign_in(page, console_url, "supervisor")
    row = page.locator("#table-rankings tbody tr", has_text="临江市交通委员会")
    await row.locator("a.drill").first.click()
    await expect(page.locator("#drawer")).to_have_class(re.compile("open"))
    await expect(page.locator("[data-drill-title]")).to_contain_text("临江市交通委员会")
    shown: list[list[str]] = []
    while True:
        await page.locator("#drill-table tbody tr").first.wait_for()
        shown += await table_rows(page, "#drill-table")
        more = page.locator("#drawer-body a.btn", has_text="下一页")
        if await more.count() == 0:
            break
        await more.click()
        await expect(page.locator("#drill-table")).to_be_visible()
    await shoot(page, ".drawer-panel", "view-drill-down")

    # Expected, independently: this month's complaints the seeded rules gave dept-jt (the
    # history) and the ones intake shows with dept-jt as lead (filed by these tests).
    month = month_label(datetime.now(UTC))
    expected = {
        p.summary.ticket_no
        for p in history(now=SEEDED_AT, days=56, per_day=6)
        if type(p).__name__ == "ComplaintAssignedV1"
        and p.lead_unit_id == "dept-jt"
        and month_label(p.assigned_at) == month
    }
    listed = await platform.call(
        "GET", "intake", "/v1/complaints", "operator", params={"lead_unit_id": "dept-jt"}
    )
    expected |= {c["ticket_no"] for c in listed.json()["items"]}
    assert {r[0] for r in shown} == expected
    assert len(shown) == len(expected)
    # The lead shown is the current one: the transport bureau, or whoever took a case it
    # returned (the district government).
    assert {r[6] for r in shown} <= {"临江市交通委员会", "清河区人民政府", "望湖区人民政府"}


async def test_an_export_downloads_a_csv_whose_rows_match_the_table(
    page: Page, platform: Platform, console_url: str
) -> None:
    period = previous_month(SEEDED_AT)
    await sign_in(page, console_url, "supervisor")
    await page.goto(f"{console_url}/dashboard?period={period}")
    await page.select_option("#rankings select[name=metric]", "satisfaction_rate")
    # The toolbar, the table and the export links are swapped in as one fragment: once the
    # link asks for the chosen metric, the table shows it too (the old table's header also
    # names 满意率, one of its columns).
    export = page.locator("#rankings a[data-export=rankings-csv]")
    await expect(export).to_have_attribute("href", re.compile(r"metric=satisfaction_rate"))
    await expect(page.locator("#rankings .toolbar")).to_contain_text("期间 " + period)
    await expect(page.locator("#table-rankings thead")).to_contain_text("满意率")
    await page.locator("#table-rankings tbody tr").first.wait_for()
    table = await table_rows(page, "#table-rankings")
    header = await page.eval_on_selector_all(
        "#table-rankings thead th", "ths => ths.map(t => t.innerText.trim())"
    )
    async with page.expect_download() as waiting:
        await page.click("#rankings a[data-export=rankings-csv]")
    download = await waiting.value
    path = ARTIFACTS / download.suggested_filename
    await download.save_as(path)
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == header
    assert rows[1:] == table
    assert len(table) > 3
    async with page.expect_download() as waiting:
        await page.click("#rankings a[data-export=rankings-xlsx]")
    xlsx = await waiting.value
    xlsx_path = ARTIFACTS / xlsx.suggested_filename
    await xlsx.save_as(xlsx_path)
    with zipfile.ZipFile(xlsx_path) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode()
    assert sheet.count("<row ") == len(table) + 2  # header, rows, the note under them
    assert "满意率" in strings and "计算时间" in strings


async def test_a_units_staff_member_is_refused_the_dashboard(
    page: Page, platform: Platform, console_url: str
) -> None:
    refused: list[int] = []
    page.on(
        "response",
        lambda r: refused.append(r.status) if r.url.endswith("/dashboard") else None,
    )
    await sign_in_as_unit(page, console_url, "dept-jt")
    await expect(page).to_have_url(re.compile(r"/unit$"))  # the unit lands on its workbench
    await page.goto(f"{console_url}/dashboard")
    await expect(page.locator(".forbidden")).to_contain_text("无权访问")
    assert refused and refused[-1] == 403
    await expect(page.locator(".kpi-card")).to_have_count(0)
    fragment = await page.request.get(f"{console_url}/dashboard/kpis")
    assert fragment.status == 403
    export = await page.request.get(f"{console_url}/dashboard/export/rankings.csv")
    assert export.status == 403
    direct = await platform.call("GET", "metrics", "/v1/dashboard/kpis", "unit:dept-jt")
    assert direct.status_code == 403  # and metrics itself refuses the unit's own token
    await page.screenshot(path=str(ARTIFACTS / "view-forbidden.png"))
    await page.goto(f"{console_url}/login")
    await page.screenshot(path=str(ARTIFACTS / "view-login.png"))
