"""未诉先办 on the dashboard: a supervisor turns the chosen hot spot into a case.

The case is filed with intake like any complaint, naming the hot spot it came from; intake
marks it proactive, dispatch routes it by category and place, and the scorecards count it
apart from residents' requests.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from jiesu_console.forms import FormState, text
from jiesu_console.session import Supervisor
from jiesu_console.upstream import UpstreamError
from jiesu_console.views import Api, render

router = APIRouter(include_in_schema=False)


@router.post("/dashboard/hotspots/case", response_class=HTMLResponse)
async def open_case(request: Request, user: Supervisor, api: Api) -> Response:
    """File the hot spot's case (a fragment: its ticket, or the problem)."""
    typed = await request.form()
    grid = text(typed, "grid_code")
    body = {
        "channel": "other",
        "kind": "report",
        "title": text(typed, "title"),
        "content": text(typed, "content"),
        "category_code": text(typed, "category_code"),
        "location": {"grid_code": grid, "address": text(typed, "place")},
        "hotspot_key": text(typed, "hotspot_key"),
    }
    try:
        filed = await api.post("intake", "/v1/complaints", user.token, body)
    except UpstreamError as exc:
        if exc.status not in (403, 409, 422):
            raise
        error = FormState("hotspot-case").failed(exc).error
        return render(request, "fragments/hotspot_case.html", status=exc.status, error=error)
    return render(request, "fragments/hotspot_case.html", filed=filed)
