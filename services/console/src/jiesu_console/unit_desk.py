"""单位工作台: a unit's cases by urgency, the case page and its actions, the unit's live feed.

Everything goes through department-response's public API with the member of staff's own
token, so a case of another unit is a 404 there and here.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from jiesu_console import fmt
from jiesu_console.forms import FormState, local_time, text, units
from jiesu_console.session import UnitStaff, User
from jiesu_console.upstream import Upstream, UpstreamError
from jiesu_console.views import Api, Names, Settings, relay_stream, render

router = APIRouter(include_in_schema=False)
OPEN = ("assigned", "accepted", "in_progress")
WARN_SHARE = 0.8
# The form of each action: the API's path and how the typed fields become its body.
ACTIONS = (
    "accept",
    "contact",
    "progress",
    "resolve",
    "return",
    "extension-request",
    "pause-request",
    "report-in",
    "whistle",
)


def next_clock(case: dict[str, Any]) -> tuple[str, str] | None:
    """The clock the unit must beat next (签收, then 响应, then 办结) and its deadline."""
    if case["status"] not in OPEN:
        return None
    deadlines = case["deadlines"]
    if case.get("whistle_id") and not case.get("reported_at") and case.get("report_by"):
        return "report_in", case["report_by"]
    if not case["accepted_at"]:
        return "accept", deadlines["accept_by"]
    if not case["contacted_at"]:
        return "contact", deadlines["contact_by"]
    return "resolve", deadlines["resolve_by"]


def is_paused(case: dict[str, Any], now: datetime) -> bool:
    """挂起: a granted pause not yet past its resume date."""
    until = case.get("paused_until")
    return case.get("pause_status") == "paused" and (
        until is None or datetime.fromisoformat(until) > now
    )


def light(case: dict[str, Any], now: datetime) -> tuple[str, str, str | None, str | None]:
    """(light, its text, the clock's name, its deadline): red past it, yellow past 80 %,
    grey while paused."""
    clock = next_clock(case)
    if clock is None:
        return "none", "—", None, None
    name, due = clock
    if is_paused(case, now):  # 挂起: the clocks stand still, no colour to race
        return "paused", fmt.LIGHTS["paused"][0], name, due
    deadline = datetime.fromisoformat(due)
    start = datetime.fromisoformat(case["assigned_at"])
    span = (deadline - start).total_seconds() or 1.0
    used = (now - start).total_seconds() / span
    colour = "red" if now >= deadline else "yellow" if used >= WARN_SHARE else "green"
    return colour, fmt.LIGHTS[colour][0], name, due


def by_urgency(cases: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Open cases first, the nearest deadline (or the longest overdue) on top."""
    rows = []
    for case in cases:
        colour, label, clock, due = light(case, now)
        rows.append({**case, "light": colour, "light_text": label, "clock": clock, "due": due})
    return sorted(rows, key=lambda r: (r["due"] is None, r["due"] or "", r["assigned_at"]))


async def open_cases(api: Upstream, user: User) -> list[dict[str, Any]]:
    """The unit's open cases (a page of 200 is a long day's work for one unit)."""
    found = await api.get(
        "department", "/v1/cases", user.token, {"status": list(OPEN), "limit": 200}
    )
    items: list[dict[str, Any]] = found["items"]
    return items


@router.get("/unit", response_class=HTMLResponse)
async def workbench(request: Request, user: UnitStaff, names: Names) -> Response:
    """单位工作台: the page; the list is a fragment that reloads on the unit's live feed."""
    directory = await names.get(user.token)
    return render(
        request,
        "desks/unit.html",
        user=user,
        unit_name=directory["units"].get(user.principal.unit_id, user.principal.unit_id),
    )


@router.get("/unit/cases", response_class=HTMLResponse)
async def case_list(request: Request, user: UnitStaff, api: Api, names: Names) -> Response:
    """The unit's open cases with their lights and countdowns, most urgent first."""
    cases, directory = await asyncio.gather(open_cases(api, user), names.get(user.token))
    return render(
        request,
        "desks/unit_cases.html",
        cases=by_urgency(cases, datetime.now(UTC)),
        names=directory,
    )


async def _case_page(
    request: Request,
    user: User,
    api: Upstream,
    directory: dict[str, Any],
    case_id: str,
    *,
    status: int = 200,
    form: FormState | None = None,
    revealed: dict[str, Any] | None = None,
    template_id: str | None = None,
) -> Response:
    case, reveals = await asyncio.gather(
        api.get("department", f"/v1/cases/{case_id}", user.token),
        api.get("department", f"/v1/cases/{case_id}/caller-reveals", user.token),
    )
    # The unit's reply templates for the case's category, and a draft from the one chosen.
    templates, draft = await asyncio.gather(
        api.get(
            "department",
            "/v1/reply-templates",
            user.token,
            {"category_code": case["category_code"], "unit_id": case["unit_id"]},
        ),
        _draft(api, user, case_id, template_id),
    )
    now = datetime.now(UTC)
    colour, label, clock, due = light(case, now)
    return render(
        request,
        "desks/unit_case.html",
        paused=is_paused(case, now),
        status=status,
        user=user,
        case=case,
        light=(colour, label, clock, due),
        reveals=reveals["items"],
        revealed=revealed,
        form=form,
        names=directory,
        templates=templates["items"],
        draft=draft,
    )


async def _draft(
    api: Upstream, user: User, case_id: str, template_id: str | None
) -> dict[str, Any] | None:
    """The case's reply drafted from a template (None without one, or for a stale one)."""
    if not template_id:
        return None
    try:
        found: dict[str, Any] = await api.get(
            "department",
            f"/v1/cases/{case_id}/reply-draft",
            user.token,
            {"template_id": template_id},
        )
    except UpstreamError as exc:
        if exc.status not in (404, 422):
            raise
        return None
    return found


@router.get("/unit/cases/{case_id}", response_class=HTMLResponse)
async def case_page(
    request: Request,
    case_id: str,
    user: UnitStaff,
    api: Api,
    names: Names,
    template_id: str | None = None,
) -> Response:
    """The case: the complaint, its deadlines, its timeline and the actions open to the unit;
    ``template_id`` fills the reply from one of the unit's templates."""
    return await _case_page(
        request, user, api, await names.get(user.token), case_id, template_id=template_id
    )


def action_body(action: str, form: Any, tz: str, names: dict[str, str]) -> dict[str, Any]:
    """The API body of an action from the typed fields (empty optional fields left out)."""
    fields: dict[str, Any]
    if action == "contact":
        fields = {"method": text(form, "method"), "note": text(form, "note")}
    elif action == "progress":
        fields = {"note": text(form, "note") or ""}
    elif action == "resolve":
        fields = {"reply": text(form, "reply") or "", "result": text(form, "result")}
    elif action == "return":
        fields = {"reason": text(form, "reason") or "", "evidence": text(form, "evidence")}
    elif action == "extension-request":
        fields = {
            "until": local_time(text(form, "until"), tz),
            "reason": text(form, "reason") or "",
        }
    elif action == "pause-request":
        fields = {
            "reason": text(form, "reason") or "",
            "until": local_time(text(form, "until"), tz),
        }
    elif action == "report-in":
        fields = {"note": text(form, "note")}
    elif action == "whistle":
        fields = {
            "unit_ids": units(form, "unit_ids", names),
            "ask": text(form, "ask") or "",
            "report_by": local_time(text(form, "report_by"), tz),
        }
    else:
        fields = {}
    required = (
        {"method", "note", "reply", "reason", "until", "report_by"}
        if action not in ("report-in", "pause-request")
        else {"reason"}
        if action == "pause-request"
        else set()
    )
    return {k: v for k, v in fields.items() if v is not None or k in required}


@router.post("/unit/cases/{case_id}/caller", response_class=HTMLResponse)
async def reveal(
    request: Request, case_id: str, user: UnitStaff, api: Api, names: Names
) -> Response:
    """The audited reveal: the number is on this answer only, never on a page after it."""
    directory = await names.get(user.token)
    typed = await request.form()
    reason = text(typed, "reason")
    try:
        revealed = await api.post(
            "department", f"/v1/cases/{case_id}/caller", user.token, {"reason": reason}
        )
    except UpstreamError as exc:
        if exc.status not in (409, 422):
            raise
        form = FormState("caller", values=dict(typed)).failed(exc)
        return await _case_page(
            request, user, api, directory, case_id, status=exc.status, form=form
        )
    response = await _case_page(request, user, api, directory, case_id, revealed=revealed)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/unit/cases/{case_id}/resume", response_class=HTMLResponse)
async def resume(
    request: Request, case_id: str, user: UnitStaff, api: Api, names: Names
) -> Response:
    """恢复计时: the unit ends its running pause (the resident called back)."""
    directory = await names.get(user.token)
    typed = await request.form()
    pause_id = text(typed, "pause_id") or ""
    try:
        await api.post("dispatch", f"/v1/pauses/{pause_id}/resume", user.token, {})
    except UpstreamError as exc:
        if exc.status not in (404, 409, 422):
            raise
        form = FormState("resume", values=dict(typed)).failed(exc)
        return await _case_page(
            request, user, api, directory, case_id, status=exc.status, form=form
        )
    return RedirectResponse(f"/unit/cases/{case_id}?done=resume", status_code=303)


@router.get("/unit/templates", response_class=HTMLResponse)
async def templates_page(request: Request, user: UnitStaff, api: Api, names: Names) -> Response:
    """答复模板: the unit's reply templates, and a form for a new one."""
    return await _templates_page(request, user, api, await names.get(user.token))


async def _templates_page(
    request: Request,
    user: User,
    api: Upstream,
    directory: dict[str, Any],
    *,
    status: int = 200,
    form: FormState | None = None,
) -> Response:
    found = await api.get("department", "/v1/reply-templates", user.token)
    return render(
        request,
        "desks/unit_templates.html",
        status=status,
        user=user,
        items=found["items"],
        form=form,
        names=directory,
    )


@router.post("/unit/templates", response_class=HTMLResponse)
async def save_template(request: Request, user: UnitStaff, api: Api, names: Names) -> Response:
    """A new reply template; a placeholder no case can fill is refused in place."""
    typed = await request.form()
    body = {
        "title": text(typed, "title") or "",
        "body": text(typed, "body") or "",
        "category_code": text(typed, "category_code"),
    }
    try:
        await api.post("department", "/v1/reply-templates", user.token, body)
    except UpstreamError as exc:
        if exc.status not in (409, 422):
            raise
        form = FormState("template", values=dict(typed)).failed(exc)
        directory = await names.get(user.token)
        return await _templates_page(request, user, api, directory, status=exc.status, form=form)
    return RedirectResponse("/unit/templates", status_code=303)


@router.post("/unit/cases/{case_id}/{action}", response_class=HTMLResponse)
async def act(
    request: Request,
    case_id: str,
    action: str,
    user: UnitStaff,
    api: Api,
    names: Names,
    settings: Settings,
) -> Response:
    """One action; on success back to the case, on a refusal the page with the API's error."""
    directory = await names.get(user.token)
    if action not in ACTIONS:
        return Response(status_code=404)
    typed = await request.form()
    body = action_body(action, typed, settings.timezone, directory["units"])
    try:
        await api.post("department", f"/v1/cases/{case_id}/{action}", user.token, body)
    except UpstreamError as exc:
        if exc.status not in (409, 422):
            raise
        form = FormState(action, values=dict(typed)).failed(exc)
        return await _case_page(
            request, user, api, directory, case_id, status=exc.status, form=form
        )
    return RedirectResponse(f"/unit/cases/{case_id}?done={action}", status_code=303)


@router.get("/unit/consultations", response_class=HTMLResponse)
async def consultations(request: Request, user: UnitStaff, api: Api, names: Names) -> Response:
    """会商邀请: the open consultations the unit is invited to."""
    found, directory = await asyncio.gather(
        api.get("department", "/v1/consultations", user.token, {"limit": 200}),
        names.get(user.token),
    )
    return render(request, "desks/unit_consultations.html", items=found["items"], names=directory)


async def _consultation_page(
    request: Request,
    user: User,
    api: Upstream,
    directory: dict[str, Any],
    consultation_id: str,
    *,
    status: int = 200,
    form: FormState | None = None,
) -> Response:
    item = await api.get("dispatch", f"/v1/consultations/{consultation_id}", user.token)
    return render(
        request,
        "desks/unit_consultation.html",
        status=status,
        user=user,
        item=item,
        form=form,
        names=directory,
    )


@router.get("/unit/consultations/{consultation_id}", response_class=HTMLResponse)
async def consultation_page(
    request: Request, consultation_id: str, user: UnitStaff, api: Api, names: Names
) -> Response:
    """One consultation: who said what, and the unit's own position."""
    directory = await names.get(user.token)
    return await _consultation_page(request, user, api, directory, consultation_id)


@router.post("/unit/consultations/{consultation_id}", response_class=HTMLResponse)
async def take_position(
    request: Request, consultation_id: str, user: UnitStaff, api: Api, names: Names
) -> Response:
    """The unit's position (主办 / 协办 / 非本单位) with its reason; the latest counts."""
    directory = await names.get(user.token)
    typed = await request.form()
    body = {"position": text(typed, "position") or "", "reason": text(typed, "reason") or ""}
    try:
        await api.post(
            "dispatch", f"/v1/consultations/{consultation_id}/positions", user.token, body
        )
    except UpstreamError as exc:
        if exc.status not in (409, 422):
            raise
        form = FormState("position", values=dict(typed)).failed(exc)
        return await _consultation_page(
            request, user, api, directory, consultation_id, status=exc.status, form=form
        )
    return RedirectResponse(f"/unit/consultations/{consultation_id}", status_code=303)


@router.get("/unit/stream")
async def stream(request: Request, user: UnitStaff, api: Api) -> StreamingResponse:
    """One SSE connection per page: the unit's own case feed from department-response."""
    return relay_stream(request, api, "department", "/v1/cases/stream", user.token)
