"""The knowledge base's data access: statements built once, one round trip each."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from jiesu_common.db.sql import FastRepository, Row, row_or_none

_COLUMNS = "title, body, category_code, valid_from, valid_until, owner_unit_id"
_RETURNING = f"RETURNING article_id, version, {_COLUMNS}, created_at, updated_at, updated_by"
_SEARCH = "setweight(array_to_tsvector($10::text[]), 'A') || setweight(array_to_tsvector($11::text[]), 'B')"
# The article and its first version, one trip.
_ADD = (
    f"WITH a AS (INSERT INTO articles (article_id, version, {_COLUMNS}, search, created_at, "
    f"updated_at, updated_by) VALUES ($1, 1, $2, $3, $4, $5, $6, $7, {_SEARCH}, $8, $8, $9) "
    f"{_RETURNING}), "
    f"v AS (INSERT INTO article_versions (article_id, version, {_COLUMNS}, created_at, "
    "created_by) SELECT article_id, version, title, body, category_code, valid_from, "
    "valid_until, owner_unit_id, created_at, updated_by FROM a) "
    "SELECT * FROM a"
)
# The next version replaces the current one only if the editor saw the current one; the
# version row goes with it, one trip (no row: someone else's edit came first, or no article).
_REVISE = (
    "WITH a AS (UPDATE articles SET version = version + 1, title = $2, body = $3, "
    "category_code = $4, valid_from = $5, valid_until = $6, owner_unit_id = $7, "
    f"search = {_SEARCH}, updated_at = $8, updated_by = $9 "
    "WHERE article_id = $1 AND version = $12 "
    f"{_RETURNING}), "
    f"v AS (INSERT INTO article_versions (article_id, version, {_COLUMNS}, created_at, "
    "created_by) SELECT article_id, version, title, body, category_code, valid_from, "
    "valid_until, owner_unit_id, updated_at, updated_by FROM a) "
    "SELECT * FROM a"
)
_GET = f"SELECT article_id, version, {_COLUMNS}, created_at, updated_at, updated_by FROM articles"
_VERSIONS = (
    f"SELECT version, {_COLUMNS}, created_at, created_by FROM article_versions "
    "WHERE article_id = $1 ORDER BY version DESC"
)
# Current articles sharing a word with the text, best first: title words weigh more, and
# an article of the inquiry's category (when given) ranks ahead of an equal other.
_SUGGEST = (
    "SELECT article_id, version, title, body, category_code, owner_unit_id, valid_until, "
    "ts_rank(search, q) * CASE WHEN category_code = $3 THEN 1.5 ELSE 1 END AS score "
    "FROM articles, CAST($1 AS tsquery) AS q "
    "WHERE search @@ q AND valid_from <= $2 AND (valid_until IS NULL OR valid_until >= $2) "
    "ORDER BY score DESC, updated_at DESC LIMIT $4"
)


class ArticleRepository(FastRepository):
    """Articles and their versions."""

    async def add(
        self,
        article_id: uuid.UUID,
        fields: dict[str, Any],
        *,
        at: datetime,
        by: str,
        title_words: list[str],
        body_words: list[str],
    ) -> Row:
        """A new article at version 1, with its version row."""
        record = await (await self.conn()).fetchrow(
            _ADD, article_id, *_values(fields), at, by, title_words, body_words
        )
        return Row(record)

    async def revise(
        self,
        article_id: uuid.UUID,
        fields: dict[str, Any],
        *,
        seen_version: int,
        at: datetime,
        by: str,
        title_words: list[str],
        body_words: list[str],
    ) -> Row | None:
        """The next version, if ``seen_version`` is still the current one."""
        record = await (await self.conn()).fetchrow(
            _REVISE, article_id, *_values(fields), at, by, title_words, body_words, seen_version
        )
        return row_or_none(record)

    async def get(self, article_id: uuid.UUID, *, for_update: bool = False) -> Row | None:
        """The current version of one article."""
        lock = " FOR UPDATE" if for_update else ""
        sql = f"{_GET} WHERE article_id = $1{lock}"
        return row_or_none(await (await self.conn()).fetchrow(sql, article_id))

    async def version_of(self, article_id: uuid.UUID, version: int) -> Row | None:
        """One kept version."""
        record = await (await self.conn()).fetchrow(
            f"SELECT version, {_COLUMNS} FROM article_versions "
            "WHERE article_id = $1 AND version = $2",
            article_id,
            version,
        )
        return row_or_none(record)

    async def versions(self, article_id: uuid.UUID) -> list[Row]:
        """Every version, newest first."""
        return [Row(r) for r in await (await self.conn()).fetch(_VERSIONS, article_id)]

    async def page(
        self,
        *,
        owner_unit_id: str | None,
        category_code: str | None,
        current_on: date | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Row]:
        """Articles, last changed first (one more than ``limit``, to know of a next page)."""
        sql = (
            f"{_GET} WHERE ($1::text IS NULL OR owner_unit_id = $1) "
            "AND ($2::text IS NULL OR category_code = $2) "
            "AND ($3::date IS NULL OR (valid_from <= $3 "
            "AND (valid_until IS NULL OR valid_until >= $3))) "
            "AND ($4::timestamptz IS NULL OR (updated_at, article_id) < ($4, $5::uuid)) "
            "ORDER BY updated_at DESC, article_id DESC LIMIT $6"
        )
        at, last = after if after else (None, None)
        rows = await (await self.conn()).fetch(
            sql, owner_unit_id, category_code, current_on, at, last, limit + 1
        )
        return [Row(r) for r in rows]

    async def suggest(
        self, query: str, *, today: date, category_code: str | None, limit: int
    ) -> list[Row]:
        """Current articles matching ``query`` (a tsquery literal), best first."""
        rows = await (await self.conn()).fetch(_SUGGEST, query, today, category_code, limit)
        return [Row(r) for r in rows]


def _values(fields: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        fields[k]
        for k in ("title", "body", "category_code", "valid_from", "valid_until", "owner_unit_id")
    )
