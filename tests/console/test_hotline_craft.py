"""The hotline's daily craft in a real browser.

知识库直办: a unit writes an article and revises it (a new version), an operator looks up a
caller's words, answers from the best match, and the article's use this month shows on
the page. 未诉先办: a supervisor turns the hot spot chosen on the dashboard into a case.
"""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.console.browser import (
    charts_drawn,
    desk_page,
    shoot,
    sign_in,
    sign_in_as_unit,
    table_rows,
)
from tests.e2e.workflow import Platform

TITLE = "公租房申请条件及办理流程"
BODY = "本市户籍家庭人均月收入低于标准、无自有住房的，可向户籍所在街道提交公租房申请，审核约三十个工作日。"


async def test_a_unit_writes_an_article_and_an_operator_answers_from_it(
    browser: Browser, platform: Platform, console_url: str
) -> None:
    unit = await desk_page(browser)
    await sign_in_as_unit(unit, console_url, "dept-zj-d01")
    await unit.goto(f"{console_url}/knowledge")
    form = unit.locator("#form-article")
    await form.locator("input[name=title]").fill(TITLE)
    await form.locator("textarea[name=body]").fill(BODY)
    await form.locator("input[name=valid_from]").fill("2026-01-01")
    await form.locator("button[type=submit]").click()
    await expect(unit.locator("#article-version")).to_have_text("第 1 版")
    edit = unit.locator("#form-article")
    await edit.locator("textarea[name=body]").fill(BODY + "可通过政务服务网在线申请。")
    await edit.locator("button[type=submit]").click()
    await expect(unit.locator("#article-version")).to_have_text("第 2 版")
    assert len(await table_rows(unit, "#table-versions")) == 2
    await shoot(unit, ".content", "knowledge-article-versions")
    assert unit.csp_violations == []  # type: ignore[attr-defined]

    operator = await desk_page(browser)
    await sign_in(operator, console_url, "operator")
    await expect(operator).to_have_url(f"{console_url}/knowledge")
    await operator.fill(
        "#form-suggest textarea[name=text]", "我想申请公租房，需要什么条件，去哪里办？"
    )
    await operator.click("#form-suggest button[type=submit]")
    first = operator.locator("#table-suggestions tbody tr").first
    await expect(first).to_contain_text(TITLE)
    await expect(first).to_contain_text("v2")
    await first.locator("input[name=phone]").fill("13900001818")
    await first.locator("button[type=submit]").click()
    await expect(first.locator("[data-ticket]")).to_contain_text("已直办")
    await shoot(operator, "#sec-suggest", "knowledge-suggestions-answered")

    article_id = await first.get_attribute("data-article-id")
    row = operator.locator(f"#table-articles tr[data-article-id='{article_id}']")

    async def counted() -> bool:
        await operator.reload()
        return (await row.locator("[data-field=answered]").inner_text()) == "1"

    assert await platform.until(counted, timeout=60, what="the answer counted on the page")
    await shoot(operator, "#sec-articles", "knowledge-articles-used")
    assert operator.csp_violations == []  # type: ignore[attr-defined]


async def test_a_supervisor_turns_the_chosen_hot_spot_into_a_proactive_case(
    browser: Browser, platform: Platform, console_url: str
) -> None:
    page = await desk_page(browser)
    await sign_in(page, console_url, "supervisor")
    form = page.locator("#form-hotspot-case")
    await form.wait_for()
    await charts_drawn(page, "#hotspots")
    title = await form.locator("input[name=title]").input_value()
    assert title.startswith("热点转办：")
    await form.locator("button[type=submit]").click()
    filed = page.locator("#hotspot-case-filed")
    await expect(filed).to_contain_text("已转为主动治理案件")
    await shoot(page, "#sec-hotspots", "hotspot-turned-into-case")
    ticket = await filed.get_attribute("data-ticket")
    found = await platform.call(
        "GET", "intake", "/v1/complaints", "supervisor", params={"ticket_no": ticket}
    )
    shown = found.json()["items"][0]
    assert shown["proactive"] == "hotspot" and shown["title"] == title
    assert page.csp_violations == []  # type: ignore[attr-defined]
