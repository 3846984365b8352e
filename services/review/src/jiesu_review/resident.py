"""The resident's self-review page (``/r/{token}``): public, rate limited, HTML.

No sign-in: the signed, single-use token is the credential. Every refusal is a page in
Chinese with its HTTP status (404 tampered, 410 expired/used/replaced, 409 already
reviewed, 429 too many requests) and changes nothing.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from jiesu_review import page
from jiesu_review.self_review import LinkUnusable, answer_link, claim_of, open_link
from jiesu_review.state import ReviewState

router = APIRouter(include_in_schema=False)
_YES_NO = {"yes": True, "no": False}
_SATISFACTION = {value for value, _ in page.SATISFACTION}
_MAX_BODY = 8192


async def get_state(request: Request) -> ReviewState:
    """The process state built at start-up."""
    state: ReviewState = request.app.state.review
    return state


State = Annotated[ReviewState, Depends(get_state)]


def _html(body: str, status: int, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**page.HEADERS, **(headers or {})})


def _refused(reason: str, status: int) -> HTMLResponse:
    return _html(page.refusal_page(reason), status)


def _limited(request: Request, token: str, state: ReviewState) -> HTMLResponse | None:
    """429 when this address or this link has asked too often."""
    address = request.client.host if request.client else "unknown"
    wait = state.per_address.hit(address) or state.per_link.hit(token[:64])
    if wait is None:
        return None
    return _html(page.refusal_page("limited"), 429, {"Retry-After": str(int(wait + 0.999))})


@router.get("/r/{token}", response_class=HTMLResponse)
async def show_self_review(token: str, request: Request, state: State) -> HTMLResponse:
    """The questions, under the complaint's masked summary."""
    if (limited := _limited(request, token, state)) is not None:
        return limited
    try:
        async with state.uow() as uow:
            opened = await open_link(token, settings=state.settings, uow=uow)
    except LinkUnusable as refused:
        return _refused(refused.reason, refused.status)
    return _html(page.form_page(opened.summary, action=f"/r/{token}", values={}), 200)


@router.post("/r/{token}", response_class=HTMLResponse)
async def answer_self_review(token: str, request: Request, state: State) -> HTMLResponse:
    """The resident's answer: closes or reopens like an operator's callback, once."""
    if (limited := _limited(request, token, state)) is not None:
        return limited
    try:
        claim_of(token, state.settings)  # a forged or stale token costs no database work
    except LinkUnusable as refused:
        return _refused(refused.reason, refused.status)
    raw = await request.body()
    form = {k: v[0] for k, v in parse_qs(raw[:_MAX_BODY].decode("utf-8", "replace")).items()}
    values = {k: form.get(k, "").strip() for k in ("contacted", "resolved", "satisfaction")}
    values["comment"] = form.get("comment", "").strip()[:500]
    if (
        values["contacted"] not in _YES_NO
        or values["resolved"] not in _YES_NO
        or values["satisfaction"] not in _SATISFACTION
    ):
        try:
            async with state.uow() as uow:
                opened = await open_link(token, settings=state.settings, uow=uow)
        except LinkUnusable as refused:
            return _refused(refused.reason, refused.status)
        error = "请回答前三个问题后再提交。"
        body = page.form_page(opened.summary, action=f"/r/{token}", error=error, values=values)
        return _html(body, 422)
    try:
        async with state.uow() as uow:
            review = await answer_link(
                token,
                contacted=_YES_NO[values["contacted"]],
                resolved=_YES_NO[values["resolved"]],
                satisfaction=values["satisfaction"],
                comment=values["comment"] or None,
                settings=state.settings,
                uow=uow,
            )
    except LinkUnusable as refused:
        return _refused(refused.reason, refused.status)
    return _html(page.done_page(review.outcome), 200)
