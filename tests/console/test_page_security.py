"""The console's pages forbid inline scripts and framing; the browser runs them under that."""

import re
import uuid

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


def test_a_form_post_from_another_site_is_refused(console_url: str) -> None:
    with httpx.Client(base_url=console_url, timeout=10) as client:
        signed_in = client.post("/login", data={"role": "unit_staff", "unit_id": "dept-jt"})
        assert signed_in.status_code == 303 and client.cookies
        case = f"/unit/cases/{uuid.uuid4()}/accept"
        forged = client.post(case, headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403
        assert "跨站请求已拒绝" in forged.text
        no_origin = client.post(case, headers={"Sec-Fetch-Site": "cross-site"})
        assert no_origin.status_code == 403
        # From the console's own page the same post goes through to department (no such case).
        own = client.post(case, headers={"Origin": console_url})
        assert own.status_code == 404


def test_each_role_lands_on_its_desk_and_is_refused_the_others(console_url: str) -> None:
    cases = {
        ("dispatcher", None): ("/dispatch", ("/unit", "/review", "/dashboard")),
        ("reviewer", None): ("/review", ("/dispatch", "/unit")),
        ("unit_staff", "dept-jt"): ("/unit", ("/dispatch", "/review", "/dispatch/list/queue")),
        ("supervisor", None): ("/dashboard", ("/dispatch", "/unit", "/review")),
    }
    for (role, unit), (home, refused) in cases.items():
        with httpx.Client(base_url=console_url, timeout=10) as client:
            form = {"role": role, **({"unit_id": unit} if unit else {})}
            signed_in = client.post("/login", data=form)
            assert signed_in.headers["location"] == home, role
            assert client.get(home).status_code == 200, role
            for path in refused:
                page = client.get(path)
                assert page.status_code == 403, (role, path)
                assert "无权访问" in page.text
