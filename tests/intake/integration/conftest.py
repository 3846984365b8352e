"""An intake app on a freshly migrated real database (HTTP in-process, no broker needed).

Dispatch's category catalog comes from the real dispatch app over ASGI: its catalog is
its packaged directory, so it needs no database of its own.
"""

import asyncio
import base64
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.settings import AuthSettings
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_dispatch.main import create_app as create_dispatch
from jiesu_dispatch.settings import DispatchSettings
from jiesu_intake.catalog import DispatchCatalog
from jiesu_intake.main import MIGRATIONS, create_app
from jiesu_intake.settings import CatalogSettings, IntakeSettings

SECRET = "intake-tests-secret-0123456789abcdef"


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
async def intake(new_database: DatabaseFactory) -> AsyncIterator[httpx.AsyncClient]:
    url = await new_database("intake")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    settings = IntakeSettings(
        database={"url": url, "pool_size": 10},
        auth={"jwt_secret": SECRET},
        pii={"encryption_key": _key(), "hash_key": _key()},
    )
    app = create_app(settings, catalog_fetch=dispatch_catalog())
    context = app.state.intake.context
    await context.start(background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await context.engine.dispose()


def bearer(role: str, unit: str | None = None) -> dict[str, str]:
    auth = AuthSettings(jwt_secret=SecretStr(SECRET))
    return {"Authorization": f"Bearer {mint_token(auth, role=role, unit_id=unit)}"}


def dispatch_catalog() -> DispatchCatalog:
    """Intake's reader of dispatch's catalog, talking to a real dispatch app in-process."""
    dispatch = create_dispatch(DispatchSettings(auth={"jwt_secret": SECRET}))
    return DispatchCatalog(
        CatalogSettings(dispatch_url="http://dispatch"),
        AuthSettings(jwt_secret=SecretStr(SECRET)),
        transport=httpx.ASGITransport(app=dispatch),
    )


async def api_key(
    client: httpx.AsyncClient, app_id: str = "civic-app", rate: int | None = None
) -> str:
    """A fresh key for a third-party app, issued through the admin API."""
    body: dict[str, object] = {"app_id": app_id, "name": f"{app_id} 测试"}
    if rate is not None:
        body["rate_limit_per_minute"] = rate
    created = await client.post("/v1/api-keys", json=body, headers=bearer("admin"))
    assert created.status_code == 201, created.text
    return str(created.json()["api_key"])
