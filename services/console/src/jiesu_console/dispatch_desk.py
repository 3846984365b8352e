"""派单台: the dispatch queue, returns, extensions, pauses (挂起), replies to review (答复审核)
and consultations, and their decisions.

The lists are fragments the page polls every few seconds (dispatch has no feed of its own):
a newly queued complaint or return appears, and one another dispatcher took disappears,
without a reload. Each item opens on its own page, so a form being typed in is never
replaced under the dispatcher's fingers.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jiesu_console import charts
from jiesu_console.forms import FormState, local_time, text, unit_id, units
from jiesu_console.session import Dispatcher, User
from jiesu_console.upstream import Upstream, UpstreamError
from jiesu_console.views import Api, Names, Settings, render

router = APIRouter(include_in_schema=False)
# A refusal that names no field, placed beside the field it is about.
UNIT_HINTS = {"单位": "lead_unit_id", "类别": "category_code", "时限": "resolve_by"}
LISTS = {
    "queue": ("/v1/dispatch-queue", {}),
    "returns": ("/v1/returns", {"status": "pending"}),
    "extensions": ("/v1/extensions", {"status": "pending"}),
    "pauses": ("/v1/pauses", {"status": "pending"}),
    "replies": ("/v1/reply-reviews", {"status": "pending"}),
    "consultations": ("/v1/consultations", {"status": "open"}),
}
# A unit's request the centre decides: the desk's name → the API's collection and its id.
REQUESTS = {
    "returns": ("/v1/returns", "return_id"),
    "extensions": ("/v1/extensions", "extension_id"),
    "pauses": ("/v1/pauses", "pause_id"),
    "replies": ("/v1/reply-reviews", "reply_review_id"),
}
DECIDED = (*REQUESTS, "consultations")


@router.get("/dispatch", response_class=HTMLResponse)
async def desk(request: Request, user: Dispatcher) -> Response:
    """派单台: four lists that refresh themselves."""
    return render(request, "desks/dispatch.html", user=user)


@router.get("/dispatch/list/whistles", response_class=HTMLResponse)
async def whistles(request: Request, user: Dispatcher, api: Api, names: Names) -> Response:
    """The latest whistles, each summoned department's report-in clock beside it (metrics)."""
    found, directory = await asyncio.gather(
        api.get("dispatch", "/v1/whistles", user.token, {"limit": 20}), names.get(user.token)
    )
    clocks = await asyncio.gather(
        *(
            api.get("metrics", f"/v1/complaints/{w['complaint_id']}/sla", user.token)
            for w in found["items"]
        ),
        return_exceptions=True,
    )
    items = []
    for whistle, sla in zip(found["items"], clocks, strict=True):
        states = {}
        if isinstance(sla, dict):
            states = {
                c["unit_id"]: c["state"]
                for c in sla["clocks"]
                if c["clock"] == "report_in" and c["round"] == whistle["round"]
            }
        items.append({**whistle, "report_states": states})
    return render(request, "desks/dispatch_whistles.html", items=items, names=directory)


@router.get("/dispatch/list/{name}", response_class=HTMLResponse)
async def one_list(
    request: Request, name: str, user: Dispatcher, api: Api, names: Names
) -> Response:
    """One of the desk's lists, oldest first (the order the centre works them in)."""
    if name not in LISTS:
        return Response(status_code=404)
    path, params = LISTS[name]
    found, directory = await asyncio.gather(
        api.get("dispatch", path, user.token, {**params, "limit": 200}), names.get(user.token)
    )
    return render(request, f"desks/dispatch_{name}.html", items=found["items"], names=directory)


@router.get("/dispatch/geojson/{level}")
async def geojson(level: str, user: Dispatcher, api: Api) -> Any:
    """dispatch's GeoJSON of a level, for the small maps."""
    if level not in ("district", "street"):
        return Response(status_code=404)
    return await api.get("dispatch", "/v1/places/geojson", user.token, {"level": level})


async def _find(api: Upstream, user: User, path: str, key: str, value: str, **params: Any) -> Any:
    found = await api.get("dispatch", path, user.token, {**params, "limit": 200})
    item = next((i for i in found["items"] if i[key] == value), None)
    if item is None:
        raise UpstreamError("dispatch", 404, "该事项已被处理或不存在 / already handled or unknown")
    return item


async def _queue_page(
    request: Request,
    user: User,
    api: Upstream,
    directory: dict[str, Any],
    complaint_id: str,
    *,
    status: int = 200,
    form: FormState | None = None,
) -> Response:
    item, hints, complaint = await asyncio.gather(
        _find(api, user, "/v1/dispatch-queue", "complaint_id", complaint_id),
        api.get("dispatch", f"/v1/complaints/{complaint_id}/suggestions", user.token),
        api.get("intake", f"/v1/complaints/{complaint_id}", user.token),
    )
    where = item["summary"]["location"]
    street = item["jurisdiction"].get("street_code")
    point = (where["lon"], where["lat"]) if where.get("lat") is not None else None
    pin = charts.pin_map(
        "jiesu-street", directory["streets"].get(street) if street else None, point, "诉求位置"
    )
    return render(
        request,
        "desks/dispatch_item.html",
        status=status,
        user=user,
        item=item,
        hints=hints,
        timeline=complaint.get("timeline", []),
        pin=pin if (street or point) else None,
        form=form,
        names=directory,
    )


@router.get("/dispatch/queue/{complaint_id}", response_class=HTMLResponse)
async def queued(
    request: Request, complaint_id: str, user: Dispatcher, api: Api, names: Names
) -> Response:
    """A queued complaint: text, place, the classifier's suggestions and the assignment form."""
    return await _queue_page(request, user, api, await names.get(user.token), complaint_id)


@router.post("/dispatch/queue/{complaint_id}", response_class=HTMLResponse)
async def assign(
    request: Request, complaint_id: str, user: Dispatcher, api: Api, names: Names
) -> Response:
    """Assign by hand: a lead, co-units, the category; the API's refusal shown in place."""
    directory = await names.get(user.token)
    typed = await request.form()
    body: dict[str, Any] = {
        "lead_unit_id": unit_id(text(typed, "lead_unit_id"), directory["units"]) or "",
        "co_unit_ids": units(typed, "co_unit_ids", directory["units"]),
        "category_code": text(typed, "category_code"),
        "note": text(typed, "note"),
    }
    try:
        done = await api.post(
            "dispatch", f"/v1/complaints/{complaint_id}/assignments", user.token, body
        )
    except UpstreamError as exc:
        if exc.status not in (404, 409, 422):
            raise
        form = FormState("assign", values=dict(typed)).failed(exc, UNIT_HINTS)
        if exc.status == 404:
            return render(request, "not_found.html", status=404, user=user, error=exc)
        return await _queue_page(
            request, user, api, directory, complaint_id, status=exc.status, form=form
        )
    return _done(f"已派单：第{done['round']}轮，主办 {done['lead_unit_id']}")


def _done(message: str) -> Response:
    """Back to the desk, which says what was done."""
    return RedirectResponse(f"/dispatch?done={quote(message)}", status_code=303)


async def _decision_page(
    request: Request,
    user: User,
    api: Upstream,
    directory: dict[str, Any],
    kind: str,
    item_id: str,
    *,
    status: int = 200,
    form: FormState | None = None,
) -> Response:
    if kind in REQUESTS:
        path, key = REQUESTS[kind]
        item = await _find(api, user, path, key, item_id, status="pending")
    else:
        item = await api.get("dispatch", f"/v1/consultations/{item_id}", user.token)
    case = None
    if kind in REQUESTS:
        case = await api.get("department", f"/v1/cases/{item['case_id']}", user.token)
    return render(
        request,
        f"desks/dispatch_{kind}_item.html",
        status=status,
        user=user,
        item=item,
        case=case,
        form=form,
        names=directory,
    )


@router.get("/dispatch/{kind}/{item_id}", response_class=HTMLResponse)
async def decision_page(
    request: Request, kind: str, item_id: str, user: Dispatcher, api: Api, names: Names
) -> Response:
    """A return, an extension or pause request, a reply to review or a consultation, with its
    decision form."""
    if kind not in DECIDED:
        return Response(status_code=404)
    return await _decision_page(request, user, api, await names.get(user.token), kind, item_id)


def decision_body(kind: str, typed: Any, directory: dict[str, Any], tz: str) -> dict[str, Any]:
    """The API body of a decision from the typed fields (empty optional fields left out)."""
    lead = unit_id(text(typed, "lead_unit_id"), directory["units"])
    co = units(typed, "co_unit_ids", directory["units"])
    note = text(typed, "note")
    if kind == "returns":
        body = {"decision": text(typed, "decision") or "", "note": note}
        return {
            **body,
            **({"lead_unit_id": lead} if lead else {}),
            **({"co_unit_ids": co} if co else {}),
        }
    if kind == "extensions":
        resolve_by = local_time(text(typed, "resolve_by"), tz)
        return {
            "decision": text(typed, "decision") or "",
            "note": note,
            **({"resolve_by": resolve_by} if resolve_by else {}),
        }
    if kind == "pauses":
        until = local_time(text(typed, "until"), tz)
        return {
            "decision": text(typed, "decision") or "",
            "note": note,
            **({"until": until} if until else {}),
        }
    if kind == "replies":
        return {"decision": text(typed, "decision") or "", "note": note}
    category = text(typed, "category_code")
    return {
        "lead_unit_id": lead or "",
        "co_unit_ids": co,
        "note": note,
        **({"category_code": category} if category else {}),
    }


@router.post("/dispatch/{kind}/{item_id}", response_class=HTMLResponse)
async def decide(
    request: Request,
    kind: str,
    item_id: str,
    user: Dispatcher,
    api: Api,
    names: Names,
    settings: Settings,
) -> Response:
    """Post the decision; back to the desk, or the same page with the API's error."""
    if kind not in DECIDED:
        return Response(status_code=404)
    directory = await names.get(user.token)
    typed = await request.form()
    body = decision_body(kind, typed, directory, settings.timezone)
    path = REQUESTS[kind][0] if kind in REQUESTS else f"/v1/{kind}"
    try:
        done = await api.post("dispatch", f"{path}/{item_id}/decision", user.token, body)
    except UpstreamError as exc:
        if exc.status not in (409, 422):
            raise
        form = FormState(kind, values=dict(typed)).failed(exc, UNIT_HINTS)
        return await _decision_page(
            request, user, api, directory, kind, item_id, status=exc.status, form=form
        )
    if kind == "returns":
        verdict = "已同意退单" if done["status"] == "approved" else "已驳回退单"
        lead = done.get("new_lead_unit_id")
        message = verdict + (f"，改派 {directory['units'].get(lead, lead)}" if lead else "")
    elif kind == "extensions":
        message = "已批准延期" if done["status"] == "granted" else "已拒绝延期"
    elif kind == "pauses":
        message = "已批准挂起" if done["status"] == "granted" else "已拒绝挂起"
    elif kind == "replies":
        message = "答复已审核通过" if done["status"] == "approved" else "答复已退回单位"
    else:
        message = f"会商已决定：主办 {directory['units'].get(done['lead_unit_id'], '')}"
    return _done(message)
