"""A dispatch app on a freshly migrated and seeded real database."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.settings import AuthSettings
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_dispatch.main import MIGRATIONS, create_app, seed
from jiesu_dispatch.settings import DispatchSettings

SECRET = "dispatch-tests-secret-0123456789abcdef"


@pytest.fixture
async def dispatch(new_database: DatabaseFactory) -> AsyncIterator[httpx.AsyncClient]:
    url = await new_database("dispatch")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    settings = DispatchSettings(database={"url": url, "pool_size": 5}, auth={"jwt_secret": SECRET})
    await seed(settings)
    app = create_app(settings)
    state = app.state.dispatch
    await state.context.start(background=False)
    assert state.context.on_start is not None
    await state.context.on_start(state.context)  # the stored directory, as at start-up
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://dispatch"
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await state.context.engine.dispose()


def bearer(role: str, unit: str | None = None) -> dict[str, str]:
    auth = AuthSettings(jwt_secret=SecretStr(SECRET))
    return {"Authorization": f"Bearer {mint_token(auth, role=role, unit_id=unit)}"}
