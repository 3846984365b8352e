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
def columns_and_placeholders(columns: tuple[str, ...], start: int = 1) -> tuple[str, str]:
    """``("a, b", "$start, $start+1")``: an INSERT's column list and its parameters."""
    return (
        ", ".join(columns),
        ", ".join(f"${n}" for n in range(start, start + len(columns))),
    )


def values_of(
    table: Table, row: Mapping[str, Any], *, start: int = 1
) -> tuple[str, str, list[Any]]:
    """``(columns, placeholders, args)`` of an INSERT of ``row``, parameters from ``$start``."""
    names, placeholders = columns_and_placeholders(tuple(row), start)
    return names, placeholders, json_args(table, row)


@functools.lru_cache(maxsize=256)
def insert_once(table: str, columns: str, placeholders: str, returning: str) -> str:
    """An INSERT of one row (``values_of``'s columns and placeholders) that leaves an
    existing row as it is; it returns ``returning`` only when it inserted."""
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT DO NOTHING RETURNING {returning}"
    )


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


class Row:
    """An asyncpg record read as code written for SQLAlchemy rows reads one.

    ``row.name`` and ``row._mapping`` work; hot paths that moved to asyncpg hand these to
    the rules and schemas that were written for SQLAlchemy rows.
    """

    __slots__ = ("_record",)

    def __init__(self, record: asyncpg.Record) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        try:
            return self._record[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(self._record.items())


def row_or_none(record: asyncpg.Record | None) -> Row | None:
    """``Row(record)``, or None."""
    return None if record is None else Row(record)


@functools.lru_cache(maxsize=256)
def set_clause(columns: tuple[str, ...], start: int) -> str:
    """``a = $start, b = $start+1, ...`` for an UPDATE of ``columns``."""
    return ", ".join(f"{c} = ${n}" for n, c in enumerate(columns, start=start))


def json_args(table: Table, row: Mapping[str, Any]) -> list[Any]:
    """``row``'s values as parameters, JSON columns as JSON text."""
    json_columns = _json_columns(table)
    return [
        json.dumps(value, ensure_ascii=False)
        if name in json_columns and value is not None
        else value
        for name, value in row.items()
    ]
