"""Dispatch's directory of units, read over HTTP and cached in the process.

Dispatch owns the directory; department-response only needs to know, when a street office
blows the whistle, that the caller is a street office and that the summoned units exist.
A stale copy keeps serving when dispatch cannot be reached; with none at all, 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import httpx

from jiesu_common.http import Problem
from jiesu_common.identity import credentials_for
from jiesu_common.settings import AuthSettings

log = logging.getLogger(__name__)

UnitKinds = dict[str, str]  # unit id → kind (department, street_office, ...)
UnitsFetch = Callable[[], Awaitable[UnitKinds]]


def dispatch_units(
    base_url: str,
    auth: AuthSettings,
    timeout_s: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> UnitsFetch:
    """A fetch of ``GET /v1/units`` from dispatch, with a short-lived service token."""

    async def fetch() -> UnitKinds:
        token = await credentials_for(auth, "department").token()
        async with httpx.AsyncClient(
            base_url=base_url, timeout=timeout_s, transport=transport
        ) as client:
            answer = await client.get("/v1/units", headers={"Authorization": f"Bearer {token}"})
        answer.raise_for_status()
        return {u["unit_id"]: u["kind"] for u in answer.json()["items"]}

    return fetch


class CachedUnits:
    """The last list of units read, refreshed after ``ttl_s``; stale beats nothing."""

    def __init__(self, fetch: UnitsFetch, *, ttl_s: float, retry_s: float = 5.0) -> None:
        self._fetch = fetch
        self._ttl_s = ttl_s
        self._retry_s = retry_s
        self._units: UnitKinds | None = None
        self._fresh_until = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self) -> UnitKinds:
        """Unit id → kind; a 503 problem when dispatch was never reachable."""
        async with self._lock:
            if time.monotonic() >= self._fresh_until:
                try:
                    self._units = await self._fetch()
                    self._fresh_until = time.monotonic() + self._ttl_s
                except Exception:
                    self._fresh_until = time.monotonic() + self._retry_s
                    log.warning("dispatch's units could not be read", exc_info=True)
            if self._units is None:
                raise Problem(
                    503,
                    "directory-unavailable",
                    "单位目录暂不可用 / Service unavailable",
                    "dispatch's directory of units cannot be read; try again shortly",
                )
            return self._units
