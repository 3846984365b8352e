"""回访台: the callbacks to make, the case's reply, the audited phone reveal, the review form.

Reviews come from callback-review's public API; the outcome (closed or reopened) it answers
is shown as soon as the form is sent.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jiesu_common.calendar import zone
from jiesu_console.forms import FormState, text, yes_no
from jiesu_console.session import Reviewer, User
from jiesu_console.upstream import Upstream, UpstreamError
from jiesu_console.views import Api, Names, Settings, render

router = APIRouter(include_in_schema=False)


def end_of_today(tz: str) -> datetime:
    """Midnight tonight in the hotline's zone: what is due "today" is due before it."""
    local = datetime.now(UTC).astimezone(zone(tz))
    return datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=zone(tz))


@router.get("/review", response_class=HTMLResponse)
async def desk(request: Request, user: Reviewer) -> Response:
    """回访台: the pending callbacks, refreshed every few seconds."""
    scope = "today" if request.query_params.get("scope") == "today" else "all"
    return render(request, "desks/review.html", user=user, scope=scope)


@router.get("/review/list", response_class=HTMLResponse)
async def pending(
    request: Request, user: Reviewer, api: Api, names: Names, settings: Settings
) -> Response:
    """Pending reviews by due time; ``scope=today`` keeps those due by tonight (or overdue)."""
    found, directory = await asyncio.gather(
        api.get("review", "/v1/reviews", user.token, {"status": "pending", "limit": 200}),
        names.get(user.token),
    )
    tonight = end_of_today(settings.timezone)
    now = datetime.now(UTC)
    items = []
    for review in found["items"]:
        due = datetime.fromisoformat(review["due_at"])
        state = "overdue" if due < now else "today" if due < tonight else "later"
        items.append({**review, "due_state": state})
    if request.query_params.get("scope") == "today":
        items = [i for i in items if i["due_state"] != "later"]
    return render(request, "desks/review_list.html", items=items, names=directory)


async def _review_page(
    request: Request,
    user: User,
    api: Upstream,
    directory: dict[str, Any],
    review_id: str,
    *,
    status: int = 200,
    form: FormState | None = None,
    revealed: dict[str, Any] | None = None,
) -> Response:
    review, reveals = await asyncio.gather(
        api.get("review", f"/v1/reviews/{review_id}", user.token),
        api.get("review", f"/v1/reviews/{review_id}/caller-reveals", user.token),
    )
    # What the resident asked for (intake's view: the caller masked, the timeline).
    complaint = await api.get("intake", f"/v1/complaints/{review['complaint_id']}", user.token)
    return render(
        request,
        "desks/review_item.html",
        status=status,
        user=user,
        review=review,
        complaint=complaint,
        reveals=reveals["items"],
        revealed=revealed,
        form=form,
        names=directory,
    )


@router.get("/review/{review_id}", response_class=HTMLResponse)
async def review_page(
    request: Request, review_id: str, user: Reviewer, api: Api, names: Names
) -> Response:
    """One callback: the unit's reply, the reveal, the form; or its outcome once done."""
    return await _review_page(request, user, api, await names.get(user.token), review_id)


@router.post("/review/{review_id}/caller", response_class=HTMLResponse)
async def reveal(
    request: Request, review_id: str, user: Reviewer, api: Api, names: Names
) -> Response:
    """The audited reveal of the resident's number, on this answer only."""
    directory = await names.get(user.token)
    typed = await request.form()
    try:
        revealed = await api.post(
            "review",
            f"/v1/reviews/{review_id}/caller",
            user.token,
            {"reason": text(typed, "reason")},
        )
    except UpstreamError as exc:
        if exc.status not in (409, 422):
            raise
        form = FormState("caller", values=dict(typed)).failed(exc)
        return await _review_page(
            request, user, api, directory, review_id, status=exc.status, form=form
        )
    response = await _review_page(request, user, api, directory, review_id, revealed=revealed)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/review/{review_id}", response_class=HTMLResponse)
async def record(
    request: Request, review_id: str, user: Reviewer, api: Api, names: Names
) -> Response:
    """Record the callback; the page then shows its outcome (closed or reopened)."""
    typed = await request.form()
    body = {
        "contacted": yes_no(typed, "contacted"),
        "resolved": yes_no(typed, "resolved"),
        "satisfaction": text(typed, "satisfaction"),
        "comment": text(typed, "comment"),
    }
    try:
        await api.post("review", f"/v1/reviews/{review_id}", user.token, body)
    except UpstreamError as exc:
        if exc.status not in (409, 422):
            raise
        form = FormState("review", values=dict(typed)).failed(exc)
        directory = await names.get(user.token)
        return await _review_page(
            request, user, api, directory, review_id, status=exc.status, form=form
        )
    return RedirectResponse(f"/review/{review_id}", status_code=303)
