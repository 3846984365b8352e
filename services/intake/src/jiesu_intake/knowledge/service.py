"""The knowledge base's service layer: write articles (a version each time), suggest them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

from jiesu_common.auth import Principal
from jiesu_common.http import Problem
from jiesu_intake.handlers import IntakeUnitOfWork
from jiesu_intake.knowledge import domain, search
from jiesu_intake.knowledge.schemas import ArticleRevise, ArticleWrite


async def _words_of(title: str, body: str) -> tuple[list[str], list[str]]:
    # jieba is CPU work: off the event loop.
    return await asyncio.to_thread(lambda: (search.words(title), search.words(body)))


async def create_article(body: ArticleWrite, *, principal: Principal, uow: IntakeUnitOfWork) -> Any:
    """A new article at version 1 (admins; a unit's staff for their unit)."""
    domain.check_validity(body.valid_from, body.valid_until)
    fields = body.model_dump()
    fields["owner_unit_id"] = domain.owner_for_new(principal, body.owner_unit_id)
    title_words, body_words = await _words_of(body.title, body.body)
    row = await uow.articles.add(
        uuid.uuid4(),
        fields,
        at=datetime.now(UTC),
        by=principal.subject,
        title_words=title_words,
        body_words=body_words,
    )
    await uow.commit()
    return row


async def revise_article(
    article_id: uuid.UUID, body: ArticleRevise, *, principal: Principal, uow: IntakeUnitOfWork
) -> Any:
    """The next version; refused when another edit came first (409) or not the unit's (403)."""
    domain.check_validity(body.valid_from, body.valid_until)
    current = await uow.articles.get(article_id)
    if current is None:
        raise Problem.not_found(f"知识条目 / article {article_id}")
    domain.check_may_edit(principal, current.owner_unit_id)
    fields = body.model_dump(exclude={"version"})
    if principal.role != "admin":  # a unit cannot give its article away
        fields["owner_unit_id"] = principal.unit_id
    title_words, body_words = await _words_of(body.title, body.body)
    row = await uow.articles.revise(
        article_id,
        fields,
        seen_version=body.version,
        at=datetime.now(UTC),
        by=principal.subject,
        title_words=title_words,
        body_words=body_words,
    )
    if row is None:
        raise Problem.conflict(
            "article-version-stale",
            f"知识条目已更新为第 {current.version} 版 / the article is at version "
            f"{current.version}, not {body.version}",
        )
    await uow.commit()
    return row


async def suggest_articles(
    text: str, *, category_code: str | None, limit: int, today: date, uow: IntakeUnitOfWork
) -> tuple[list[Any], list[str]]:
    """Current articles best matching an inquiry's text, and the words searched by."""
    found = await asyncio.to_thread(search.words, text)
    if not found:
        return [], []
    rows = await uow.articles.suggest(
        search.tsquery_literal(found), today=today, category_code=category_code, limit=limit
    )
    return rows, found


async def answering_article(
    article_id: uuid.UUID, version: int | None, *, today: date, uow: IntakeUnitOfWork
) -> Any:
    """The current article an inquiry is answered from; the version must be the current one."""
    row = await uow.articles.get(article_id)
    if row is None:
        raise Problem.invalid(f"知识条目 {article_id} 不存在 / no article {article_id}")
    if not domain.is_current(row.valid_from, row.valid_until, today):
        raise Problem.conflict(
            "article-not-current", "该知识条目不在有效期内 / the article is not in force today"
        )
    if version is not None and version != row.version:
        raise Problem.conflict(
            "article-version-stale",
            f"知识条目已更新为第 {row.version} 版 / the article is at version {row.version}",
        )
    return row
