"""Request and response models of the knowledge base (unknown fields rejected)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from jiesu_intake.schemas import _STRICT, _Input


class ArticleWrite(_Input):
    """An article's content: a new article, or the next version of one."""

    model_config = _STRICT

    title: str = Field(min_length=2, max_length=200)
    body: str = Field(min_length=2, max_length=20000)
    category_code: str | None = Field(default=None, max_length=64)
    valid_from: date
    valid_until: date | None = None
    owner_unit_id: str | None = Field(
        default=None, max_length=64, description="承办单位 owning it; unit staff: their own"
    )


class ArticleRevise(ArticleWrite):
    """The next version of an article, written over the version the editor saw."""

    version: int = Field(ge=1, description="the current version, as the editor saw it")


class ArticleVersionRead(BaseModel):
    """One kept version."""

    version: int
    title: str
    body: str
    category_code: str | None
    valid_from: date
    valid_until: date | None
    owner_unit_id: str | None
    created_at: datetime
    created_by: str


class ArticleRead(BaseModel):
    """An article at its current version."""

    article_id: uuid.UUID
    version: int
    title: str
    body: str
    category_code: str | None
    valid_from: date
    valid_until: date | None
    owner_unit_id: str | None
    current: bool = Field(description="in force today")
    created_at: datetime
    updated_at: datetime
    updated_by: str
    versions: list[ArticleVersionRead] | None = Field(
        default=None, description="every version, newest first (on the single read)"
    )


class ArticlePage(BaseModel):
    """A page of articles, last changed first."""

    items: list[ArticleRead]
    next: str | None = None


class SuggestRequest(_Input):
    """An inquiry's text (sent in a body, so that it stays out of access logs)."""

    model_config = _STRICT

    text: str = Field(min_length=2, max_length=5000)
    category_code: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=5, ge=1, le=20)


class Suggestion(BaseModel):
    """A current article matching the text."""

    article_id: uuid.UUID
    version: int
    title: str
    excerpt: str
    body: str
    category_code: str | None
    owner_unit_id: str | None
    valid_until: date | None
    score: float = Field(description="ts_rank of the shared words; higher is better")


class SuggestionList(BaseModel):
    """Best first; ``words`` are what the text was searched by."""

    items: list[Suggestion]
    words: list[str]
