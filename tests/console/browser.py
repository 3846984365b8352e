"""What a person does on the console's pages, as helpers for the browser tests."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page, expect

from tests.console.conftest import ARTIFACTS


async def sign_in(page: Page, console_url: str, role: str) -> None:
    """Pick a development role on the sign-in page (no password)."""
    await page.goto(f"{console_url}/login")
    await page.click(f"button[data-role={role}]")


async def sign_in_as_unit(page: Page, console_url: str, unit_id: str) -> None:
    """Pick a unit on the sign-in page and sign in as its staff."""
    await page.goto(f"{console_url}/login")
    await page.select_option("#unit_id", unit_id)
    await page.click("button[data-role=unit_staff]")


async def charts_drawn(page: Page, scope: str) -> None:
    """Wait until every chart inside ``scope`` has been drawn."""
    await page.wait_for_function(
        """scope => {
            const root = document.querySelector(scope);
            if (!root) return false;
            const charts = root.querySelectorAll('[data-chart]');
            return [...charts].every(c => c.getAttribute('data-chart-ready') === '1');
        }""",
        arg=scope,
    )


async def shoot(page: Page, selector: str, name: str) -> Path:
    """A screenshot of one view into the artefact folder."""
    path = ARTIFACTS / f"{name}.png"
    await expect(page.locator(selector)).to_be_visible()
    await page.locator(selector).screenshot(path=str(path))
    return path


async def table_rows(page: Page, selector: str) -> list[list[str]]:
    """The text of every cell of a table's body, row by row."""
    rows: list[list[str]] = await page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.innerText.trim()))",
    )
    return rows


async def desk_page(browser: Browser) -> Page:
    """A fresh browser context (no cookies) at 1366×768, the smallest desk screen we serve."""
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = await context.new_page()
    page.csp_violations = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda m: (
            page.csp_violations.append(m.text)  # type: ignore[attr-defined]
            if "Content Security Policy" in m.text
            else None
        ),
    )
    return page


async def still_the_same_page(page: Page) -> None:
    """Mark the page, so that a later check can tell it was not reloaded."""
    await page.evaluate("window.__no_reload = 'still the same page'")


async def not_reloaded(page: Page) -> bool:
    """True when the page marked by ``still_the_same_page`` was never reloaded."""
    return bool(await page.evaluate("window.__no_reload === 'still the same page'"))
