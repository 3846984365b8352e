"""Statements for hot paths, built once from a service's Core tables, run on asyncpg.

A repository keeps its tables as SQLAlchemy ``Table`` objects (migrations, tests and the
rare paths use them as they are); on a hot path it renders an INSERT for a row's column
set once, caches the text, and runs it on ``await uow.connection()`` with positional
parameters. JSON columns are passed as JSON text, which is what SQLAlchemy's asyncpg
codec expects on its connections.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
from sqlalchemy import JSON, Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession


@functools.lru_cache(maxsize=256)
def _json_columns(table: Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, JSON | JSONB))


@functools.lru_cache(maxsize=1024)
def _columns_and_placeholders(columns: tuple[str, ...], start: int) -> tuple[str, str]:
    return (
        ", ".join(columns),
        ", ".join(f"${n}" for n in range(start, start + len(columns))),
    )


def values_of(
    table: Table, row: Mapping[str, Any], *, start: int = 1
) -> tuple[str, str, list[Any]]:
    """``(columns, placeholders, args)`` of an INSERT of ``row``, parameters from ``$start``."""
    columns = tuple(row)
    names, placeholders = _columns_and_placeholders(columns, start)
    json_columns = _json_columns(table)
    args = [
        json.dumps(value, ensure_ascii=False)
        if name in json_columns and value is not None
        else value
        for name, value in row.items()
    ]
    return names, placeholders, args


def to_json(value: Any) -> str:
    """A JSON column's value as JSON text."""
    return json.dumps(value, ensure_ascii=False, default=str)


class FastRepository:
    """A repository with its unit of work's session and, for hot paths, its connection."""

    def __init__(
        self,
        session: AsyncSession,
        connection: Callable[[], Awaitable[asyncpg.Connection]] | None = None,
    ) -> None:
        self.session = session
        self._connection = connection

    async def conn(self) -> asyncpg.Connection:
        """The asyncpg connection of the unit of work's transaction."""
        assert self._connection is not None, "hot paths need the unit of work's connection"
        return await self._connection()
