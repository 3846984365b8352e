"""The console's pages forbid inline scripts and framing; the browser runs them under that."""

import re

import httpx
from playwright.async_api import Page

from tests.console.browser import sign_in


def test_pages_carry_a_csp_without_inline_scripts_and_no_framing(console_url: str) -> None:
    page = httpx.get(f"{console_url}/login", timeout=10)
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script\b[^>]*>", page.text)
    assert scripts and all("src=" in s for s in scripts), scripts


async def test_dashboard_runs_under_its_csp_without_violations(
    page: Page, console_url: str
) -> None:
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    await sign_in(page, console_url, "supervisor")
    await page.wait_for_load_state("networkidle")
    assert violations == []
