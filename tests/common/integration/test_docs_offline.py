"""``/docs`` renders in a real browser with every request off the machine cut (an intranet)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from playwright.async_api import Route, async_playwright, expect

from tests.console.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.conftest import free_port_base

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture(scope="module")
def dispatch_url() -> Iterator[str]:
    """Dispatch's API as its own process (no lifespan: the docs need no database)."""
    port = free_port_base() + 1
    env = {**os.environ, "JIESU_DISPATCH_AUTH__JWT_SECRET": "docs-offline-secret-0123456789abcdef"}
    command = [sys.executable, "-m", "uvicorn", "jiesu_dispatch.main:create_app", "--factory"]
    command += ["--port", str(port), "--lifespan", "off", "--log-level", "warning"]
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "dispatch did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)


async def test_swagger_ui_renders_with_the_network_cut(dispatch_url: str) -> None:
    cut: list[str] = []

    async def only_loopback(route: Route) -> None:
        if urlparse(route.request.url).hostname in LOOPBACK:
            await route.continue_()
        else:
            cut.append(route.request.url)
            await route.abort("internetdisconnected")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.route("**/*", only_loopback)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(f"{dispatch_url}/docs")
            # The operations of the service's own OpenAPI document are listed.
            await expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=15000)
            paths = await page.locator(".opblock-summary-path").all_inner_texts()
            assert any("/v1/dispatch-queue" in p for p in paths)
            await expect(page.locator(".information-container .title")).to_contain_text("dispatch")
            assert not [e for e in errors if "Content Security Policy" in e], errors
            errors.clear()
            await page.goto(f"{dispatch_url}/redoc")
            await expect(page.locator("h1").first).to_contain_text("dispatch", timeout=15000)
        finally:
            await browser.close()
    assert cut == [], f"the docs reached off the machine: {cut}"
    # ReDoc's footer asks for its logo from its CDN; the page's CSP stops it in the browser.
    blocked = [e for e in errors if "Content Security Policy" in e]
    assert all("cdn.redoc.ly/redoc/logo-mini.svg" in e for e in blocked), blocked
