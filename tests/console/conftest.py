"""One real stack (as `jiesu dev` runs it, console included), a seeded past, a browser."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from jiesu_common.devstack import SERVICES, DevStack
from tests.console.seed import seed_history
from tests.e2e.conftest import free_port_base
from tests.e2e.workflow import Platform

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
]
SEEDED_AT = datetime.now(UTC)


@pytest.fixture(scope="session")
def console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    root: Path = tmp_path_factory.mktemp("jiesu-console") / ".jiesu"
    dev = DevStack(root, port_base=free_port_base())
    try:
        dev.start()
        yield dev
    finally:
        dev.stop()


@pytest.fixture(scope="session")
async def platform(console_stack: DevStack) -> AsyncIterator[Platform]:
    """The stack's APIs as its users reach them, with weeks of history behind them."""
    tokens: dict[str, Any] = json.loads((console_stack.root / "dev" / "tokens.json").read_text())
    await seed_history(
        console_stack.postgres.url_for("jiesu_metrics"),
        console_stack.secrets["jwt_secret"],
        now=SEEDED_AT,
    )
    p = Platform(console_stack, tokens)
    yield p
    await p.client.aclose()


@pytest.fixture(scope="session")
def console_url(console_stack: DevStack) -> str:
    return console_stack.url_of(next(s for s in SERVICES if s.name == "console"))


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        found = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield found
        await found.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) with a large screen; CSP violations are kept."""
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, accept_downloads=True, locale="zh-CN"
    )
    found = await context.new_page()
    found.csp_violations = []  # type: ignore[attr-defined]
    found.on(
        "console",
        lambda m: (
            found.csp_violations.append(m.text)  # type: ignore[attr-defined]
            if "Content Security Policy" in m.text
            else None
        ),
    )
    yield found
    await context.close()
