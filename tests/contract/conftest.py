"""A live intake (uvicorn on a free loopback port) on a migrated real PostgreSQL database.

Outside clients (georeport, FixMyStreet-shaped requests, Schemathesis) talk real HTTP to
it. Dispatch's catalog comes from the real dispatch app, served in-process.
"""

import asyncio
import base64
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.contracts import make_event
from jiesu_common.contracts.envelope import EventPayload
from jiesu_common.db.engine import drop_database, ensure_database
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.settings import AuthSettings
from jiesu_common.testing.plugin import database_url
from jiesu_dispatch.main import create_app as create_dispatch
from jiesu_dispatch.settings import DispatchSettings
from jiesu_intake.catalog import DispatchCatalog
from jiesu_intake.main import MIGRATIONS, create_app, create_context
from jiesu_intake.settings import CatalogSettings, IntakeSettings
from jiesu_intake.status_view import apply_lifecycle_event

SECRET = "contract-tests-secret-0123456789abcdef"
T = TypeVar("T")


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on its own loop in a helper thread (tests are sync)."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result(timeout=120)


def bearer(role: str) -> dict[str, str]:
    auth = AuthSettings(jwt_secret=SecretStr(SECRET))
    return {"Authorization": f"Bearer {mint_token(auth, role=role)}"}


@dataclass
class LiveIntake:
    """A running intake and what tests need around it."""

    base_url: str
    settings: IntakeSettings

    @property
    def open311(self) -> str:
        """The GeoReport v2 endpoint."""
        return f"{self.base_url}/open311/v2"

    def api_key(self, app_id: str, rate: int | None = None) -> str:
        """A fresh key, issued through the admin API."""
        body: dict[str, Any] = {"app_id": app_id, "name": app_id, "rate_limit_per_minute": rate}
        answer = httpx.post(f"{self.base_url}/v1/api-keys", json=body, headers=bearer("admin"))
        assert answer.status_code == 201, answer.text
        return str(answer.json()["api_key"])

    def complaint_id(self, ticket_no: str) -> uuid.UUID:
        """A request's complaint id, as staff see it."""
        answer = httpx.get(
            f"{self.base_url}/v1/complaints",
            params={"ticket_no": ticket_no},
            headers=bearer("operator"),
        )
        return uuid.UUID(answer.json()["items"][0]["complaint_id"])

    def feed(self, *payloads: EventPayload) -> None:
        """Deliver lifecycle events as intake's consumer does (handler, then commit)."""

        async def deliver() -> None:
            context = create_context(self.settings)
            try:
                for payload in payloads:
                    async with context.uow() as uow:
                        await apply_lifecycle_event(payload, make_event(payload), uow)
                        await uow.commit()
            finally:
                await context.engine.dispose()

        run_async(deliver)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _catalog() -> DispatchCatalog:
    dispatch = create_dispatch(DispatchSettings(auth={"jwt_secret": SECRET}))
    return DispatchCatalog(
        CatalogSettings(dispatch_url="http://dispatch"),
        AuthSettings(jwt_secret=SecretStr(SECRET)),
        transport=httpx.ASGITransport(app=dispatch),
    )


@pytest.fixture(scope="module")
def live_intake(pg_server_url: str) -> Iterator[LiveIntake]:
    url = database_url(pg_server_url, f"t_live_{uuid.uuid4().hex[:10]}")
    run_async(lambda: ensure_database(url))
    upgrade_head(MIGRATIONS, url)
    key = base64.b64encode(os.urandom(32)).decode()
    settings = IntakeSettings(
        database={"url": url, "pool_size": 5},
        auth={"jwt_secret": SECRET},
        pii={"encryption_key": key, "hash_key": key},
        api_keys={"default_rate_per_minute": 10_000},
    )
    app = create_app(settings, catalog_fetch=_catalog())
    port = _free_port()
    # No lifespan: the HTTP API needs only its database, not the broker or consumers.
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )

    async def serve() -> None:
        try:
            await server.serve()
        finally:
            await app.state.intake.context.engine.dispose()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "intake did not start"
        time.sleep(0.05)
    try:
        yield LiveIntake(base_url=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        server.should_exit = True
        thread.join(20)
        run_async(lambda: drop_database(url))
