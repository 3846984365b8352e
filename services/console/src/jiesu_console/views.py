"""The dashboard's pages and fragments: gather from the services' APIs, render one template."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from jiesu_common.calendar import zone
from jiesu_console import charts, fmt, proactive, tables
from jiesu_console.exports import disposition, to_csv, to_xlsx
from jiesu_console.session import ROLE_NAMES, Supervisor, User, desks_of, settings_of
from jiesu_console.settings import ConsoleSettings
from jiesu_console.upstream import DirectoryCache, Upstream, UpstreamError

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.globals.update(
    fmt=fmt, ROLE_NAMES=ROLE_NAMES, METRICS=tables.METRICS, desks_of=desks_of
)
router = APIRouter(include_in_schema=False)
SCOPE_KEYS = ("district", "street", "unit", "category")
DRILL_KEYS = (*SCOPE_KEYS, "community", "grid", "period", "measure", "start", "end")
TABLES = ("rankings", "quality", "flows", "board", "hotspots", "complaints", "trends")
MEASURES = {
    "filed": "受理",
    "closed": "结案",
    "assigned": "派单",
    "reviewed": "回访",
    "dissatisfied": "不满意",
    "reopened": "重办",
    "returned": "退单",
    "breached": "超期",
}


def upstream_of(request: Request) -> Upstream:
    """The process's client for the other services."""
    upstream: Upstream = request.app.state.upstream
    return upstream


def directory_of(request: Request) -> DirectoryCache:
    """Names of units, categories and places."""
    cache: DirectoryCache = request.app.state.directory
    return cache


Api = Annotated[Upstream, Depends(upstream_of)]
Names = Annotated[DirectoryCache, Depends(directory_of)]
Settings = Annotated[ConsoleSettings, Depends(settings_of)]


def filters_of(request: Request, keys: tuple[str, ...] = (*SCOPE_KEYS, "period")) -> dict[str, str]:
    """The view's filters from the query string (empty ones dropped)."""
    return {k: v for k in keys if (v := request.query_params.get(k))}


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """One template with the common context."""
    settings = settings_of(request)
    return TEMPLATES.TemplateResponse(
        request, name, {"tz": settings.timezone, **context}, status_code=status
    )


def _periods(now: datetime, tz: str, count: int = 13) -> list[str]:
    local = now.astimezone(zone(tz))
    y, m = local.year, local.month
    out = []
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out


def computed(data: dict[str, Any], tz: str) -> str:
    """When the figures were computed, local time with seconds."""
    return fmt.when(data.get("computed_at"), tz, seconds=True)


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request, user: Supervisor, names: Names, settings: Settings
) -> Response:
    """监督考核驾驶舱: the page; each view loads as a fragment and refreshes on live events."""
    directory = await names.get(user.token)
    filters = filters_of(request)
    period = filters.get("period") or _periods(datetime.now(UTC), settings.timezone)[0]
    return render(
        request,
        "dashboard.html",
        user=user,
        names=directory,
        filters=filters,
        period=period,
        periods=_periods(datetime.now(UTC), settings.timezone),
        qs=urlencode(filters),
    )


@router.get("/dashboard/kpis", response_class=HTMLResponse)
async def kpis(request: Request, user: Supervisor, api: Api, settings: Settings) -> Response:
    """KPI cards for today and the month, with the change against the same span before."""
    scope = filters_of(request, SCOPE_KEYS)
    data = await api.get("metrics", "/v1/dashboard/kpis", user.token, scope)
    v = data["values"]
    cards = []
    for key, rate in (
        ("filed", False),
        ("assigned", False),
        ("closed", False),
        ("breached", False),
        ("response_rate", True),
        ("resolution_rate", True),
        ("satisfaction_rate", True),
        ("composite", True),
    ):
        show = fmt.pct if rate else fmt.num
        note = data["notes"][key]
        cards.append(
            {
                "key": key,
                "label": note["label"],
                "today": show(v["today"][key]),
                "month": show(v["month"][key]),
                "vs_today": fmt.change(v["today"][key], v["yesterday"][key], rate),
                "vs_month": fmt.change(v["month"][key], v["prev_month"][key], rate),
                "note": note,
                "sample": None if not rate else (v["today"]["reviewed"], v["month"]["reviewed"]),
                "drill_today": None
                if rate
                else tables.drill(scope, measure=key, **_window(data["windows"]["today"])),
                "drill_month": None
                if rate
                else tables.drill(scope, measure=key, **_window(data["windows"]["month"])),
            }
        )
    return render(
        request,
        "fragments/kpis.html",
        cards=cards,
        overdue_now=v["today"]["overdue_now"],
        overdue_note=data["notes"]["overdue_now"],
        computed=computed(data, settings.timezone),
    )


def _window(span: dict[str, str]) -> dict[str, str]:
    return {"start": span["start"], "end": span["end"]}


@router.get("/dashboard/trends", response_class=HTMLResponse)
async def trends(
    request: Request,
    user: Supervisor,
    api: Api,
    settings: Settings,
    days: Annotated[int, Query(ge=7, le=366)] = 30,
) -> Response:
    """Filed vs closed, backlog, median time to close, on-time rate per day."""
    scope = filters_of(request, SCOPE_KEYS)
    data = await api.get("metrics", "/v1/dashboard/trends", user.token, {**scope, "days": days})
    return render(
        request,
        "fragments/trends.html",
        volume=charts.trend_volume(data["items"], scope, settings.timezone),
        speed=charts.trend_speed(data["items"]),
        notes=data["notes"],
        days=days,
        qs=urlencode({**scope, "days": days}),
        computed=computed(data, settings.timezone),
    )


async def _ranking(request: Request, user: User, api: Upstream, settings: ConsoleSettings) -> Any:
    params = {
        **filters_of(request),
        "level": request.query_params.get("level") or "unit",
        "metric": request.query_params.get("metric") or "composite",
        "min_sample": request.query_params.get("min_sample") or settings.min_sample,
    }
    return await api.get("metrics", "/v1/dashboard/rankings", user.token, params), params


@router.get("/dashboard/rankings", response_class=HTMLResponse)
async def rankings(
    request: Request, user: Supervisor, api: Api, names: Names, settings: Settings
) -> Response:
    """考核排名 with rank, change of rank and the minimum sample."""
    (data, params), directory = await asyncio.gather(
        _ranking(request, user, api, settings), names.get(user.token)
    )
    scope = filters_of(request, SCOPE_KEYS)
    table = tables.ranking_table(data, directory, scope)
    level_names = tables.names_of(directory, data["level"])
    return render(
        request,
        "fragments/rankings.html",
        table=table,
        data=data,
        params=params,
        chart=charts.ranking_bars(
            data["items"],
            tables.METRICS[data["metric"]],
            level_names,
            scope,
            data["level"],
            data["period"],
        ),
        note=data["notes"][data["metric"]],
        qs=urlencode(params),
        computed=computed(data, settings.timezone),
    )


@router.get("/dashboard/board", response_class=HTMLResponse)
async def board(
    request: Request, user: Supervisor, api: Api, names: Names, settings: Settings
) -> Response:
    """超期/预警 by horizon, with lights, a live countdown and the escalation ladder."""
    params = {
        **filters_of(request, SCOPE_KEYS),
        "horizon": request.query_params.get("horizon") or "overdue",
    }
    data, directory = await asyncio.gather(
        api.get("metrics", "/v1/sla/board", user.token, params), names.get(user.token)
    )
    return render(
        request,
        "fragments/board.html",
        table=tables.board_table(data, directory, settings.timezone),
        data=data,
        params=params,
        qs=urlencode(params),
        scope_qs=urlencode(filters_of(request, SCOPE_KEYS)),
        computed=computed(data, settings.timezone),
    )


@router.get("/dashboard/quality", response_class=HTMLResponse)
async def quality(
    request: Request, user: Supervisor, api: Api, names: Names, settings: Settings
) -> Response:
    """派单质量: return, misroute, reopen rates and the flow of approved returns."""
    params = {**filters_of(request), "level": request.query_params.get("level") or "unit"}
    data, directory = await asyncio.gather(
        api.get("metrics", "/v1/dashboard/quality", user.token, params), names.get(user.token)
    )
    misroutes = await api.get(
        "metrics",
        "/v1/scorecards/misroutes",
        user.token,
        {"period": data["period"], "by": "category"},
    )
    scope = filters_of(request, SCOPE_KEYS)
    return render(
        request,
        "fragments/quality.html",
        table=tables.quality_table(data, directory, scope),
        misroutes=tables.misroute_table(misroutes, directory),
        flows=tables.flows_table(data, directory),
        sankey=charts.return_sankey(data["flows"], directory["units"]) if data["flows"] else None,
        data=data,
        params=params,
        qs=urlencode(params),
        computed=computed(data, settings.timezone),
    )


@router.get("/dashboard/map", response_class=HTMLResponse)
async def region_map(
    request: Request, user: Supervisor, api: Api, names: Names, settings: Settings
) -> Response:
    """The city's streets or grids coloured by volume or a rate, and a point heat map."""
    level = request.query_params.get("level") or "street"
    metric = request.query_params.get("metric") or "volume"
    params = {**filters_of(request), "level": level, "metric": metric}
    data, directory, geo = await asyncio.gather(
        api.get("metrics", "/v1/dashboard/map", user.token, params),
        names.get(user.token),
        api.get("dispatch", "/v1/places/geojson", user.token, {"level": "grid"}),
    )
    centroids = {f["properties"]["code"]: _centroid(f["geometry"]) for f in geo["features"]}
    grid_points = [
        (*centroids[g["code"]], g["count"]) for g in data["grids"] if g["code"] in centroids
    ]
    label = "诉求量（件）" if metric == "volume" else tables.METRICS[metric] + "（%）"
    return render(
        request,
        "fragments/map.html",
        level=level,
        metric=metric,
        regions=charts.region_map(
            f"jiesu-{level}",
            data["items"],
            tables.names_of(directory, level),
            label,
            metric != "volume",
            filters_of(request, SCOPE_KEYS),
            level,
            data["period"],
        ),
        heat=charts.heat_map("jiesu-grid", data["points"], grid_points),
        note=data["notes"][metric],
        data=data,
        computed=computed(data, settings.timezone),
    )


def _centroid(geometry: dict[str, Any]) -> tuple[float, float]:
    """The mean of a polygon's outer ring (good enough to place a grid's count)."""
    ring = (
        geometry["coordinates"][0]
        if geometry["type"] == "Polygon"
        else geometry["coordinates"][0][0]
    )
    points = ring[:-1] or ring
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


@router.get("/dashboard/geojson/{level}")
async def geojson(level: str, user: Supervisor, api: Api) -> Any:
    """dispatch's GeoJSON of a level, for the page's maps."""
    if level not in ("district", "street", "community", "grid"):
        return Response(status_code=404)
    return await api.get("dispatch", "/v1/places/geojson", user.token, {"level": level})


async def _hotspots(request: Request, user: User, api: Upstream) -> tuple[Any, dict[str, Any]]:
    params = {
        **filters_of(request, SCOPE_KEYS),
        "level": request.query_params.get("hs_level") or "community",
        "window": request.query_params.get("window") or "week",
        "limit": 10,
    }
    return await api.get("metrics", "/v1/hotspots", user.token, params), params


@router.get("/dashboard/hotspots", response_class=HTMLResponse)
async def hotspots(
    request: Request, user: Supervisor, api: Api, names: Names, settings: Settings
) -> Response:
    """热点: the top clusters and, for the chosen one, its volume month by month."""
    (data, params), directory = await asyncio.gather(
        _hotspots(request, user, api), names.get(user.token)
    )
    topics = [
        {
            "value": f"{h['category_code']}|{h['level']}|{h['place_code']}",
            "label": f"{directory['categories'].get(h['category_code'], h['category_code'])} · "
            + str(tables.names_of(directory, h["level"]).get(h["place_code"], h["place_code"])),
        }
        for h in data["items"]
    ]
    chosen = request.query_params.get("topic") or (topics[0]["value"] if topics else None)
    series = None
    if chosen:
        category, level, place = chosen.split("|")
        months = await api.get(
            "metrics",
            "/v1/hotspots/series",
            user.token,
            {"category": category, "level": level, "place": place, "months": 12},
        )
        title = next((t["label"] for t in topics if t["value"] == chosen), chosen)
        series = charts.topic_months(months["items"], f"每月一题：{title}（近 12 个月）")
    spot = next(
        (
            h
            for h in data["items"]
            if chosen == f"{h['category_code']}|{h['level']}|{h['place_code']}"
        ),
        None,
    )
    return render(
        request,
        "fragments/hotspots.html",
        case=proactive.draft(spot, directory) if spot else None,
        table=tables.hotspot_table(data, directory, settings.timezone),
        data=data,
        params={**params, "hs_level": params["level"]},
        topics=topics,
        chosen=chosen,
        series=series,
        qs=urlencode(
            {
                **filters_of(request, SCOPE_KEYS),
                "hs_level": params["level"],
                "window": params["window"],
            }
        ),
        computed=computed(data, settings.timezone),
    )


@router.get("/dashboard/complaints", response_class=HTMLResponse)
async def complaints(
    request: Request, user: Supervisor, api: Api, names: Names, settings: Settings
) -> Response:
    """The complaints behind a number (drawer), a page at a time."""
    params = filters_of(request, DRILL_KEYS)
    cursor = request.query_params.get("cursor")
    data, directory = await asyncio.gather(
        api.get(
            "metrics",
            "/v1/dashboard/complaints",
            user.token,
            {**params, "cursor": cursor, "limit": 50},
        ),
        names.get(user.token),
    )
    return render(
        request,
        "fragments/complaints.html",
        table=tables.complaints_table(data, directory, settings.timezone),
        data=data,
        title=_drill_title(params, directory, data, settings.timezone),
        qs=urlencode(params),
        next_url=f"/dashboard/complaints?{urlencode({**params, 'cursor': data['next']})}"
        if data["next"]
        else None,
        computed=computed(data, settings.timezone),
    )


def _drill_title(
    params: dict[str, str], names: dict[str, Any], data: dict[str, Any], tz: str
) -> str:
    parts = [MEASURES.get(params.get("measure", "filed"), "")]
    for key, table in (
        ("district", "districts"),
        ("street", "streets"),
        ("community", "communities"),
        ("grid", "grids"),
        ("unit", "units"),
        ("category", "categories"),
    ):
        if key in params:
            parts.append(str(names[table].get(params[key], params[key])))
    span = f"{fmt.when(data['start'], tz)} 至 {fmt.when(data['end'], tz)}"
    return " · ".join(p for p in parts if p) + f"（{span}）"


@router.get("/dashboard/export/{name}.{fmt_}")
async def export(
    request: Request,
    name: str,
    fmt_: str,
    user: Supervisor,
    api: Api,
    names: Names,
    settings: Settings,
) -> Response:
    """Any table as CSV or XLSX, with the view's filters."""
    if name not in TABLES or fmt_ not in ("csv", "xlsx"):
        return Response(status_code=404)
    directory = await names.get(user.token)
    table, note = await _table(name, request, user, api, directory, settings)
    stamp = datetime.now(UTC).astimezone(zone(settings.timezone)).strftime("%Y%m%d-%H%M%S")
    if fmt_ == "csv":
        body, media = to_csv(table), "text/csv; charset=utf-8"
    else:
        body = to_xlsx(table, note)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": disposition(
                f"jiesu-{name}-{stamp}.{fmt_}", f"{table.title}-{stamp}.{fmt_}"
            )
        },
    )


async def _table(
    name: str,
    request: Request,
    user: User,
    api: Upstream,
    directory: dict[str, Any],
    settings: ConsoleSettings,
) -> tuple[tables.Table, str]:
    scope = filters_of(request, SCOPE_KEYS)
    tz = settings.timezone
    if name == "rankings":
        data, _ = await _ranking(request, user, api, settings)
        note = data["notes"][data["metric"]]
        return tables.ranking_table(data, directory, scope), _note(note, data, tz)
    if name in ("quality", "flows"):
        params = {**filters_of(request), "level": request.query_params.get("level") or "unit"}
        data = await api.get("metrics", "/v1/dashboard/quality", user.token, params)
        table = (
            tables.quality_table(data, directory, scope)
            if name == "quality"
            else tables.flows_table(data, directory)
        )
        return table, _note(data["notes"]["return_rate"], data, tz)
    if name == "board":
        horizon = request.query_params.get("horizon") or "overdue"
        data = await api.get(
            "metrics", "/v1/sla/board", user.token, {**scope, "horizon": horizon, "limit": 500}
        )
        return tables.board_table(data, directory, tz), f"计算时间 {computed(data, tz)}"
    if name == "hotspots":
        data, _ = await _hotspots(request, user, api)
        return tables.hotspot_table(data, directory, tz), _note(
            data["notes"]["hotspot_surprise"], data, tz
        )
    if name == "trends":
        days = int(request.query_params.get("days") or 30)
        data = await api.get("metrics", "/v1/dashboard/trends", user.token, {**scope, "days": days})
        return tables.trends_table(data), f"计算时间 {computed(data, tz)}"
    return await _all_complaints(request, user, api, directory, settings)


async def _all_complaints(
    request: Request,
    user: User,
    api: Upstream,
    directory: dict[str, Any],
    settings: ConsoleSettings,
) -> tuple[tables.Table, str]:
    params = filters_of(request, DRILL_KEYS)
    items: list[Any] = []
    cursor = None
    while True:
        page = await api.get(
            "metrics",
            "/v1/dashboard/complaints",
            user.token,
            {**params, "cursor": cursor, "limit": 500},
        )
        items += page["items"]
        cursor = page["next"]
        if cursor is None or len(items) >= settings.export_max_rows:
            break
    data = {**page, "items": items[: settings.export_max_rows]}
    note = _drill_title(params, directory, data, settings.timezone)
    return tables.complaints_table(data, directory, settings.timezone), note


def _note(note: dict[str, str], data: dict[str, Any], tz: str) -> str:
    return (
        f"{note['label']} = {note['formula']}；分母：{note['denominator']}；"
        f"计算时间 {computed(data, tz)}"
    )


def relay_stream(
    request: Request, api: Upstream, service: str, path: str, token: str
) -> StreamingResponse:
    """A service's SSE feed relayed to one page as it comes, reconnecting while the console
    runs; it ends when the token is refused (the page then signs in again)."""

    async def relay() -> Any:
        yield "retry: 3000\n\n"
        while not request.app.state.draining:
            try:
                async for line in api.stream(service, path, token):
                    yield line + "\n"
            except UpstreamError as exc:
                if exc.status in (401, 403):
                    return  # the token expired or was revoked: the page signs in again
            except httpx.HTTPError:
                pass  # the service is restarting: reconnect in a moment
            await asyncio.sleep(2)

    return StreamingResponse(
        relay(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/dashboard/stream")
async def stream(request: Request, user: Supervisor, api: Api) -> StreamingResponse:
    """One SSE connection per page: metrics' live feed, relayed as it comes."""
    return relay_stream(request, api, "metrics", "/v1/live", user.token)
