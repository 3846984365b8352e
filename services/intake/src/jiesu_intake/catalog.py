"""Dispatch's category catalog and unit names, read over HTTP and cached in the process.

Dispatch owns categories (with their extra questions and clocks) and units; intake only
reads them to serve Open311's services and to name the agency responsible. The cache is
per process and short-lived; when dispatch cannot be reached a stale copy keeps serving,
and with no copy at all the Open311 routes answer 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from jiesu_common.identity import credentials_for
from jiesu_common.settings import AuthSettings
from jiesu_intake.settings import CatalogSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttributeValue:
    """One choice of a list question."""

    key: str
    name: str


@dataclass(frozen=True)
class Attribute:
    """An extra question of a category (an Open311 service attribute)."""

    code: str
    datatype: str
    required: bool
    order: int
    description: str
    datatype_description: str | None = None
    variable: bool = True
    values: tuple[AttributeValue, ...] = ()


@dataclass(frozen=True)
class Clocks:
    """How long a category's assignments may take (resolve in working days when set)."""

    accept_minutes: int
    contact_minutes: int
    resolve_minutes: int
    resolve_working_days: int | None = None


@dataclass(frozen=True)
class Category:
    """A category as intake serves it: an Open311 service."""

    code: str
    name: str
    group: str
    description: str
    sla_class: str
    clocks: Clocks
    keywords: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = ()


@dataclass(frozen=True)
class Catalog:
    """Categories by code and unit names by id."""

    categories: Mapping[str, Category] = field(default_factory=dict)
    unit_names: Mapping[str, str] = field(default_factory=dict)

    def unit_name(self, unit_id: str | None) -> str | None:
        """A unit's name, else its id (a unit dispatch added after the last fetch)."""
        if unit_id is None:
            return None
        return self.unit_names.get(unit_id, unit_id)


class CatalogUnavailable(RuntimeError):
    """Dispatch's catalog could not be read and no copy is cached."""


CatalogFetch = Callable[[], Awaitable[Catalog]]


def catalog_from_json(
    categories: Iterable[Mapping[str, Any]], units: Iterable[Mapping[str, Any]]
) -> Catalog:
    """A catalog from dispatch's ``/v1/categories`` and ``/v1/units`` items."""
    return Catalog(
        categories={c["code"]: _category(c) for c in categories},
        unit_names={u["unit_id"]: u["name"] for u in units},
    )


def _category(data: Mapping[str, Any]) -> Category:
    return Category(
        code=data["code"],
        name=data["name"],
        group=data.get("group", ""),
        description=data.get("description", ""),
        sla_class=data["sla_class"],
        clocks=Clocks(**data["clocks"]),
        keywords=tuple(data.get("keywords", ())),
        attributes=tuple(
            Attribute(
                code=a["code"],
                datatype=a["datatype"],
                required=bool(a.get("required", False)),
                order=int(a["order"]),
                description=a.get("description", ""),
                datatype_description=a.get("datatype_description"),
                variable=bool(a.get("variable", True)),
                values=tuple(AttributeValue(v["key"], v["name"]) for v in a.get("values", ())),
            )
            for a in sorted(data.get("attributes", ()), key=lambda a: int(a["order"]))
        ),
    )


class DispatchCatalog:
    """Reads the catalog from dispatch's HTTP API."""

    def __init__(
        self,
        settings: CatalogSettings,
        auth: AuthSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._auth = auth
        self._transport = transport

    async def __call__(self) -> Catalog:
        """Fetch categories and units (raises on any failure)."""
        async with httpx.AsyncClient(
            base_url=self._settings.dispatch_url,
            timeout=self._settings.timeout_s,
            transport=self._transport,
            headers={"Authorization": f"Bearer {await self._token()}"},
        ) as client:
            categories = await client.get("/v1/categories")
            units = await client.get("/v1/units")
        categories.raise_for_status()
        units.raise_for_status()
        return catalog_from_json(categories.json()["items"], units.json()["items"])

    async def _token(self) -> str:
        configured = self._settings.token.get_secret_value()
        if configured:
            return configured
        return await credentials_for(self._auth, "intake").token()


class CachedCatalog:
    """The last catalog read, refreshed after ``ttl_s``; stale beats nothing."""

    def __init__(
        self,
        fetch: CatalogFetch,
        *,
        ttl_s: float,
        retry_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl_s = ttl_s
        self._retry_s = retry_s
        self._clock = clock
        self._catalog: Catalog | None = None
        self._fresh_until = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self) -> Catalog:
        """The catalog, fetched when stale; CatalogUnavailable when none can be had."""
        if self._clock() < self._fresh_until and self._catalog is not None:
            return self._catalog
        async with self._lock:
            if self._clock() < self._fresh_until:
                if self._catalog is None:
                    raise CatalogUnavailable("dispatch's catalog is unavailable")
                return self._catalog
            try:
                self._catalog = await self._fetch()
                self._fresh_until = self._clock() + self._ttl_s
            except Exception as exc:
                # Wait a little before asking dispatch again, whatever is cached.
                self._fresh_until = self._clock() + self._retry_s
                if self._catalog is None:
                    log.warning("category catalog unavailable", exc_info=True)
                    raise CatalogUnavailable("dispatch's catalog is unavailable") from exc
                log.warning("category catalog refresh failed; serving the cached copy")
            return self._catalog
