"""The knowledge base's HTTP routes (thin: the service layer decides)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query

from jiesu_common.access import STAFF, GuardedRoute, access
from jiesu_common.auth import Staff, require_roles
from jiesu_common.http import Problem, decode_cursor, next_cursor
from jiesu_intake.api import State, refuse_nul
from jiesu_intake.knowledge import domain, search, service
from jiesu_intake.knowledge.schemas import (
    ArticlePage,
    ArticleRead,
    ArticleRevise,
    ArticleVersionRead,
    ArticleWrite,
    Suggestion,
    SuggestionList,
    SuggestRequest,
)
from jiesu_intake.state import IntakeState

router = APIRouter(route_class=GuardedRoute, dependencies=[Depends(refuse_nul)])
WRITE_ACCESS = access(*domain.MANAGERS)
READ_ACCESS = access(*STAFF)
SUGGEST_ROLES = ("operator", "dispatcher", "supervisor", "admin", "reviewer")


def _today(state: IntakeState) -> date:
    return datetime.now(ZoneInfo(state.settings.timezone)).date()


@router.post(
    "/v1/articles/suggestions",
    openapi_extra=access(*SUGGEST_ROLES),
    response_model=SuggestionList,
    tags=["knowledge"],
)
async def suggest(body: SuggestRequest, principal: Staff, state: State) -> SuggestionList:
    """The current articles best matching an inquiry's text (直办 suggestions)."""
    require_roles(principal, *SUGGEST_ROLES)
    async with state.uow() as uow:
        rows, found = await service.suggest_articles(
            body.text,
            category_code=body.category_code,
            limit=body.limit,
            today=_today(state),
            uow=uow,
        )
    items = [
        Suggestion(
            article_id=r.article_id,
            version=r.version,
            title=r.title,
            excerpt=search.excerpt(r.body),
            body=r.body,
            category_code=r.category_code,
            owner_unit_id=r.owner_unit_id,
            valid_until=r.valid_until,
            score=round(float(r.score), 4),
        )
        for r in rows
    ]
    return SuggestionList(items=items, words=found)


@router.post(
    "/v1/articles",
    openapi_extra=WRITE_ACCESS,
    status_code=201,
    response_model=ArticleRead,
    tags=["knowledge"],
)
async def post_article(body: ArticleWrite, principal: Staff, state: State) -> ArticleRead:
    """A new article (admins; an owning unit's staff for their unit)."""
    require_roles(principal, *domain.MANAGERS)
    async with state.uow() as uow:
        row = await service.create_article(body, principal=principal, uow=uow)
    return _read(row, state)


@router.get(
    "/v1/articles", openapi_extra=READ_ACCESS, response_model=ArticlePage, tags=["knowledge"]
)
async def list_articles(
    principal: Staff,
    state: State,
    owner_unit_id: Annotated[str | None, Query(max_length=64)] = None,
    category_code: Annotated[str | None, Query(max_length=64)] = None,
    current: bool = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ArticlePage:
    """Articles, last changed first; ``current=true``: only those in force today."""
    require_roles(principal, *STAFF)
    after = decode_cursor(cursor)
    async with state.uow() as uow:
        rows = await uow.articles.page(
            owner_unit_id=owner_unit_id,
            category_code=category_code,
            current_on=_today(state) if current else None,
            after=after,
            limit=limit,
        )
    return ArticlePage(
        items=[_read(r, state) for r in rows[:limit]],
        next=next_cursor(rows, limit, "updated_at", "article_id"),
    )


@router.get(
    "/v1/articles/{article_id}",
    openapi_extra=READ_ACCESS,
    response_model=ArticleRead,
    tags=["knowledge"],
)
async def get_article(article_id: uuid.UUID, principal: Staff, state: State) -> ArticleRead:
    """One article with every version, newest first."""
    require_roles(principal, *STAFF)
    async with state.uow() as uow:
        row = await uow.articles.get(article_id)
        if row is None:
            raise Problem.not_found(f"知识条目 / article {article_id}")
        versions = await uow.articles.versions(article_id)
    read = _read(row, state)
    read.versions = [ArticleVersionRead.model_validate(v._mapping) for v in versions]
    return read


@router.put(
    "/v1/articles/{article_id}",
    openapi_extra=WRITE_ACCESS,
    response_model=ArticleRead,
    tags=["knowledge"],
)
async def put_article(
    article_id: uuid.UUID, body: ArticleRevise, principal: Staff, state: State
) -> ArticleRead:
    """The next version of an article, over the version the editor saw (else 409)."""
    require_roles(principal, *domain.MANAGERS)
    async with state.uow() as uow:
        row = await service.revise_article(article_id, body, principal=principal, uow=uow)
    return _read(row, state)


def _read(row: Any, state: IntakeState) -> ArticleRead:
    values = {k: v for k, v in row._mapping.items() if k in ArticleRead.model_fields}
    current = domain.is_current(row.valid_from, row.valid_until, _today(state))
    return ArticleRead.model_validate({**values, "current": current})
