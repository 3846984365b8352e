"""知识库: policy articles for direct answers (直办), and the suggestions for a caller's words.

Admins and owning units' staff write articles (each change a new version); operators look
up the best-matching current articles for what the caller asks and answer the inquiry from
one, which intake records with the article's version. This month's direct answers and
reopens per article come from metrics' scorecard.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jiesu_common.calendar import zone
from jiesu_console.forms import FormState, text
from jiesu_console.session import NotAllowed, User, signed_in
from jiesu_console.upstream import Upstream, UpstreamError
from jiesu_console.views import Api, Names, Settings, render

router = APIRouter(include_in_schema=False)
KNOWLEDGE_ROLES = ("admin", "unit_staff", "operator")
MANAGERS = ("admin", "unit_staff")
ANSWERERS = ("operator", "admin")


async def knowledge_user(user: Annotated[User, Depends(signed_in)]) -> User:
    """Admins, owning units' staff and operators."""
    if user.principal.role not in KNOWLEDGE_ROLES:
        raise NotAllowed(user)
    return user


KnowledgeUser = Annotated[User, Depends(knowledge_user)]


def may_edit(user: User, article: dict[str, Any]) -> bool:
    """Admins edit every article; a unit's staff their own unit's."""
    role = user.principal.role
    return role == "admin" or (
        role == "unit_staff" and article.get("owner_unit_id") == user.principal.unit_id
    )


def _article_body(typed: Any, user: User) -> dict[str, Any]:
    body = {
        "title": text(typed, "title"),
        "body": text(typed, "body"),
        "category_code": text(typed, "category_code"),
        "valid_from": text(typed, "valid_from"),
        "valid_until": text(typed, "valid_until"),
    }
    if user.principal.role == "admin":
        body["owner_unit_id"] = text(typed, "owner_unit_id")
    return body


async def _page(
    request: Request,
    user: User,
    api: Upstream,
    names: Names,
    settings: Settings,
    *,
    status: int = 200,
    form: FormState | None = None,
) -> Response:
    period = datetime.now(UTC).astimezone(zone(settings.timezone)).strftime("%Y-%m")
    params = {"owner_unit_id": user.principal.unit_id, "limit": 200}
    found, card, directory = await asyncio.gather(
        api.get("intake", "/v1/articles", user.token, params),
        api.get("metrics", "/v1/scorecards", user.token, {"period": period}),
        names.get(user.token),
    )
    uses = {a["article_id"]: a for a in card["platform"].get("articles", [])}
    return render(
        request,
        "desks/knowledge.html",
        status=status,
        user=user,
        articles=found["items"],
        uses=uses,
        period=period,
        platform=card["platform"],
        names=directory,
        form=form,
        may_manage=user.principal.role in MANAGERS,
        may_edit=lambda a: may_edit(user, a),
    )


@router.get("/knowledge", response_class=HTMLResponse)
async def desk(
    request: Request, user: KnowledgeUser, api: Api, names: Names, settings: Settings
) -> Response:
    """知识库: the lookup for a caller's words, the articles and their use this month."""
    return await _page(request, user, api, names, settings)


@router.post("/knowledge/suggest", response_class=HTMLResponse)
async def suggest(request: Request, user: KnowledgeUser, api: Api, names: Names) -> Response:
    """The best-matching current articles for what the caller asks (a fragment)."""
    typed = await request.form()
    words = text(typed, "text")
    found: dict[str, Any] = {"items": [], "words": []}
    error = None
    if words:
        try:
            found = await api.post(
                "intake", "/v1/articles/suggestions", user.token, {"text": words}
            )
        except UpstreamError as exc:
            if exc.status != 422:
                raise
            error = FormState("suggest").failed(exc).error
    return render(
        request,
        "desks/knowledge_suggestions.html",
        user=user,
        text=words or "",
        suggestions=found["items"],
        words=found["words"],
        error=error,
        names=await names.get(user.token),
        may_answer=user.principal.role in ANSWERERS,
    )


@router.post("/knowledge/answer", response_class=HTMLResponse)
async def answer(request: Request, user: KnowledgeUser, api: Api) -> Response:
    """File the inquiry answered from one article (直办), recorded with its version."""
    if user.principal.role not in ANSWERERS:
        raise NotAllowed(user)
    typed = await request.form()
    phone = text(typed, "phone")
    body = {
        "channel": "phone",
        "kind": "inquiry",
        "content": text(typed, "text"),
        "article_id": text(typed, "article_id"),
        "article_version": text(typed, "article_version"),
        "caller": {"phone": phone} if phone else {"anonymous": True},
    }
    try:
        filed = await api.post("intake", "/v1/complaints", user.token, body)
    except UpstreamError as exc:
        if exc.status not in (409, 422):
            raise
        return render(
            request,
            "desks/knowledge_answered.html",
            status=exc.status,
            error=FormState("answer").failed(exc).error,
        )
    return render(request, "desks/knowledge_answered.html", filed=filed)


@router.post("/knowledge", response_class=HTMLResponse)
async def create(
    request: Request, user: KnowledgeUser, api: Api, names: Names, settings: Settings
) -> Response:
    """A new article (admins; a unit's staff for their unit)."""
    if user.principal.role not in MANAGERS:
        raise NotAllowed(user)
    typed = await request.form()
    try:
        created = await api.post("intake", "/v1/articles", user.token, _article_body(typed, user))
    except UpstreamError as exc:
        if exc.status not in (403, 409, 422):
            raise
        form = FormState("article", values=dict(typed)).failed(exc)
        return await _page(request, user, api, names, settings, status=exc.status, form=form)
    return RedirectResponse(f"/knowledge/{created['article_id']}", status_code=303)


async def _article_page(
    request: Request,
    user: User,
    api: Upstream,
    names: Names,
    article_id: str,
    *,
    status: int = 200,
    form: FormState | None = None,
) -> Response:
    article, directory = await asyncio.gather(
        api.get("intake", f"/v1/articles/{article_id}", user.token), names.get(user.token)
    )
    return render(
        request,
        "desks/knowledge_article.html",
        status=status,
        user=user,
        article=article,
        names=directory,
        form=form,
        editable=may_edit(user, article),
    )


@router.get("/knowledge/{article_id}", response_class=HTMLResponse)
async def article_page(
    request: Request, article_id: str, user: KnowledgeUser, api: Api, names: Names
) -> Response:
    """One article: its current text, every version, and (for its owners) the edit form."""
    return await _article_page(request, user, api, names, article_id)


@router.post("/knowledge/{article_id}", response_class=HTMLResponse)
async def revise(
    request: Request, article_id: str, user: KnowledgeUser, api: Api, names: Names
) -> Response:
    """The next version, over the version the editor saw (a newer one in between: 409)."""
    if user.principal.role not in MANAGERS:
        raise NotAllowed(user)
    typed = await request.form()
    body = {**_article_body(typed, user), "version": text(typed, "version")}
    if user.principal.role != "admin":
        body["owner_unit_id"] = user.principal.unit_id
    try:
        await api.put("intake", f"/v1/articles/{article_id}", user.token, body)
    except UpstreamError as exc:
        if exc.status not in (403, 409, 422):
            raise
        form = FormState("article", values=dict(typed)).failed(exc)
        return await _article_page(
            request, user, api, names, article_id, status=exc.status, form=form
        )
    return RedirectResponse(f"/knowledge/{article_id}", status_code=303)
