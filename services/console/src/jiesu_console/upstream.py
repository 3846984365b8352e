"""Calls to the other services' public APIs, always with the signed-in person's token."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from jiesu_console.settings import UpstreamSettings


class UpstreamError(Exception):
    """A service answered with an error (its status and problem title are kept)."""

    def __init__(
        self, service: str, status: int, title: str, problem: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{service}: {status} {title}")
        self.service = service
        self.status = status
        self.title = title
        self.problem = problem or {}


@dataclass
class Upstream:
    """One HTTP client for the process; every call names the service and the token."""

    settings: UpstreamSettings
    client: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout_s, read=self.settings.timeout_s)
        )

    def url(self, service: str, path: str) -> str:
        """The absolute URL of ``path`` on ``service``."""
        base: str = getattr(self.settings, f"{service}_url")
        return base.rstrip("/") + path

    async def get(
        self, service: str, path: str, token: str, params: dict[str, Any] | None = None
    ) -> Any:
        """GET JSON; raises UpstreamError on an error status."""
        answer = await self.client.get(
            self.url(service, path),
            params={k: v for k, v in (params or {}).items() if v not in (None, "")},
            headers={"Authorization": f"Bearer {token}"},
        )
        _raise_for_problem(service, answer)
        return answer.json()

    async def post(self, service: str, path: str, token: str, body: dict[str, Any]) -> Any:
        """POST JSON; raises UpstreamError (with the problem document) on an error status."""
        answer = await self.client.post(
            self.url(service, path), json=body, headers={"Authorization": f"Bearer {token}"}
        )
        _raise_for_problem(service, answer)
        return answer.json()

    async def put(self, service: str, path: str, token: str, body: dict[str, Any]) -> Any:
        """PUT JSON; raises UpstreamError (with the problem document) on an error status."""
        answer = await self.client.put(
            self.url(service, path), json=body, headers={"Authorization": f"Bearer {token}"}
        )
        _raise_for_problem(service, answer)
        return answer.json()

    async def gather(self, token: str, **calls: tuple[str, str, dict[str, Any] | None]) -> Any:
        """Several GETs at once: ``name=(service, path, params)`` → ``{name: json}``."""
        names = list(calls)
        results = await asyncio.gather(
            *(self.get(service, path, token, params) for service, path, params in calls.values())
        )
        return dict(zip(names, results, strict=True))

    async def stream(self, service: str, path: str, token: str) -> AsyncIterator[str]:
        """The lines of an upstream Server-Sent Events stream, as they come."""
        async with self.client.stream(
            "GET",
            self.url(service, path),
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
            timeout=httpx.Timeout(self.settings.timeout_s, read=60),
        ) as answer:
            if answer.status_code >= 400:
                raise UpstreamError(service, answer.status_code, answer.reason_phrase)
            async for line in answer.aiter_lines():
                yield line

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


def _raise_for_problem(service: str, answer: httpx.Response) -> None:
    if answer.status_code < 400:
        return
    title = answer.reason_phrase
    problem: dict[str, Any] = {}
    if answer.headers.get("content-type", "").startswith("application/problem+json"):
        problem = answer.json()
        title = problem.get("detail") or problem.get("title") or title
    raise UpstreamError(service, answer.status_code, title, problem)


@dataclass
class DirectoryCache:
    """Names of units, categories and places (dispatch's directory), kept a few minutes.

    The directory is the same for every member of staff, so one copy serves all; it is
    fetched with the token of whoever asks first after it expires.
    """

    upstream: Upstream
    ttl_s: float
    _value: dict[str, Any] | None = None
    _at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, token: str) -> dict[str, Any]:
        """``{"units": {id: name}, "categories": {code: name}, "places": {...}, ...}``."""
        async with self._lock:
            if self._value is None or time.monotonic() - self._at > self.ttl_s:
                found = await self.upstream.gather(
                    token,
                    units=("dispatch", "/v1/units", None),
                    categories=("dispatch", "/v1/categories", None),
                    places=("dispatch", "/v1/places", None),
                )
                self._value = _names(found)
                self._at = time.monotonic()
            return self._value


def _names(found: dict[str, Any]) -> dict[str, Any]:
    places = found["places"]
    return {
        "units": {u["unit_id"]: u["name"] for u in found["units"]["items"]},
        "unit_kinds": {u["unit_id"]: u["kind"] for u in found["units"]["items"]},
        "categories": {c["code"]: c["name"] for c in found["categories"]["items"]},
        "districts": {d["code"]: d["name"] for d in places["districts"]},
        "streets": {s["code"]: s["name"] for s in places["streets"]},
        "street_district": {s["code"]: s["district"] for s in places["streets"]},
        "communities": {c["code"]: c["name"] for c in places["communities"]},
        "grids": {g["code"]: g["name"] for g in places["grids"]},
    }
