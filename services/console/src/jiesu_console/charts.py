"""Apache ECharts options, built here and handed to the page's static script as JSON.

Data points that lead somewhere carry a ``drill`` URL: clicking a bar, a line point or a
map region opens the complaints behind it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from jiesu_common.calendar import zone
from jiesu_console.tables import drill

PALETTE = ["#409EFF", "#67C23A", "#E6A23C", "#F56C6C", "#909399", "#9B59B6", "#1ABC9C"]
_BASE: dict[str, Any] = {
    "color": PALETTE,
    "textStyle": {"fontFamily": "Noto Sans CJK SC, Microsoft YaHei, sans-serif"},
    "grid": {"left": 48, "right": 48, "top": 40, "bottom": 30, "containLabel": True},
    "animation": False,
}


def dumps(option: dict[str, Any]) -> str:
    """The option as the JSON the page's script reads."""
    return json.dumps({**_BASE, **option}, ensure_ascii=False, separators=(",", ":"))


def _day_window(day: str, tz: str) -> dict[str, str]:
    start = datetime.fromisoformat(day).replace(tzinfo=zone(tz))
    return {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()}


def trend_volume(items: list[dict[str, Any]], filters: dict[str, Any], tz: str) -> str:
    """Filed vs closed per day (bars) and the backlog (line)."""
    days = [d["day"] for d in items]

    def bars(measure: str) -> list[dict[str, Any]]:
        return [
            {
                "value": d[measure],
                "drill": drill(filters, measure=measure, **_day_window(d["day"], tz)),
            }
            for d in items
        ]

    return dumps(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"data": ["受理量", "结案量", "积压量"], "top": 0},
            "xAxis": {"type": "category", "data": days},
            "yAxis": [{"type": "value", "name": "件"}],
            "series": [
                {"name": "受理量", "type": "bar", "data": bars("filed")},
                {"name": "结案量", "type": "bar", "data": bars("closed")},
                {
                    "name": "积压量",
                    "type": "line",
                    "data": [d["backlog"] for d in items],
                    "smooth": True,
                },
            ],
        }
    )


def trend_speed(items: list[dict[str, Any]]) -> str:
    """Median hours to close (line) and the on-time resolve rate (line, right axis)."""
    return dumps(
        {
            "tooltip": {"trigger": "axis"},
            "legend": {"data": ["结案用时中位数（小时）", "按期办结率（%）"], "top": 0},
            "xAxis": {"type": "category", "data": [d["day"] for d in items]},
            "yAxis": [
                {"type": "value", "name": "小时"},
                {"type": "value", "name": "%", "min": 0, "max": 100},
            ],
            "series": [
                {
                    "name": "结案用时中位数（小时）",
                    "type": "line",
                    "data": [d["median_close_hours"] for d in items],
                    "connectNulls": True,
                },
                {
                    "name": "按期办结率（%）",
                    "type": "line",
                    "yAxisIndex": 1,
                    "data": [
                        None
                        if d["on_time_resolve_rate"] is None
                        else round(d["on_time_resolve_rate"] * 100, 1)
                        for d in items
                    ],
                    "connectNulls": True,
                },
            ],
        }
    )


def ranking_bars(
    items: list[dict[str, Any]],
    label: str,
    names: dict[str, str],
    filters: dict[str, Any],
    level: str,
    period: str,
) -> str:
    """The ranked rows as horizontal bars, best at the top."""
    ranked = [r for r in items if r["ranked"]][:15]
    ranked.reverse()
    return dumps(
        {
            "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
            "grid": {"left": 8, "right": 40, "top": 10, "bottom": 10, "containLabel": True},
            "xAxis": {"type": "value", "max": 100, "name": "%"},
            "yAxis": {"type": "category", "data": [names.get(r["key"], r["key"]) for r in ranked]},
            "series": [
                {
                    "name": label,
                    "type": "bar",
                    "label": {"show": True, "position": "right", "formatter": "{c}%"},
                    "data": [
                        {
                            "value": round((r["value"] or 0) * 100, 1),
                            "drill": drill(
                                filters, measure="assigned", period=period, **{level: r["key"]}
                            ),
                        }
                        for r in ranked
                    ],
                }
            ],
        }
    )


def return_sankey(flows: list[dict[str, Any]], names: dict[str, str]) -> str:
    """From → to of approved returns (two columns, so that A→B and B→A never form a cycle)."""
    nodes: dict[str, None] = {}
    links = []
    for f in flows:
        source = f"{names.get(f['source'], f['source'])}（退出）"
        target = f"{names.get(f['target'], f['target'])}（接收）"
        nodes.setdefault(source)
        nodes.setdefault(target)
        links.append({"source": source, "target": target, "value": f["count"]})
    return dumps(
        {
            "tooltip": {"trigger": "item"},
            "series": [
                {
                    "type": "sankey",
                    "data": [{"name": n} for n in nodes],
                    "links": links,
                    "emphasis": {"focus": "adjacency"},
                    "lineStyle": {"color": "gradient", "curveness": 0.5},
                    "label": {"fontSize": 12},
                }
            ],
        }
    )


def region_map(
    map_name: str,
    items: list[dict[str, Any]],
    names: dict[str, str],
    metric_label: str,
    is_rate: bool,
    filters: dict[str, Any],
    level: str,
    period: str,
) -> str:
    """Places coloured by the chosen figure; a click lists the place's complaints."""
    data = [
        {
            "name": names.get(i["code"], i["code"]),
            "value": round(i["value"] * 100, 1)
            if is_rate and i["value"] is not None
            else i["value"],
            "sample": i["sample"],
            "drill": drill(filters, measure="filed", period=period, **{level: i["code"]}),
        }
        for i in items
    ]
    values = [d["value"] for d in data if d["value"] is not None] or [0]
    return dumps(
        {
            "tooltip": {"trigger": "item", "formatter": "{b}<br/>" + metric_label + "：{c}"},
            "visualMap": {
                "min": 0 if not is_rate else min(values),
                "max": max(values) if max(values) > 0 else 1,
                "left": 10,
                "bottom": 10,
                "text": ["高", "低"],
                "calculable": True,
                "inRange": {"color": ["#e0f3ff", "#409EFF", "#F56C6C"]},
            },
            "series": [
                {
                    "name": metric_label,
                    "type": "map",
                    "map": map_name,
                    "roam": True,
                    "label": {"show": True, "fontSize": 11},
                    "data": data,
                }
            ],
        }
    )


def heat_map(
    map_name: str, points: list[dict[str, Any]], grid_points: list[tuple[float, float, int]]
) -> str:
    """A point heat map: positioned complaints (~100 m bins) and grid centroids for the rest."""
    data = [[p["lon"], p["lat"], p["count"]] for p in points] + [
        [lon, lat, n] for lon, lat, n in grid_points
    ]
    top = max((d[2] for d in data), default=1)
    return dumps(
        {
            "tooltip": {"trigger": "item"},
            "geo": {"map": map_name, "roam": True, "itemStyle": {"areaColor": "#f3f6fa"}},
            "visualMap": {
                "min": 0,
                "max": top,
                "left": 10,
                "bottom": 10,
                "calculable": True,
                "inRange": {"color": ["#67C23A", "#E6A23C", "#F56C6C"]},
            },
            "series": [
                {
                    "name": "诉求热力",
                    "type": "heatmap",
                    "coordinateSystem": "geo",
                    "pointSize": 18,
                    "blurSize": 22,
                    "data": data,
                }
            ],
        }
    )


def topic_months(items: list[dict[str, Any]], title: str) -> str:
    """每月一题: one topic's volume month by month."""
    return dumps(
        {
            "tooltip": {"trigger": "axis"},
            "title": {"text": title, "left": "center", "textStyle": {"fontSize": 13}},
            "xAxis": {"type": "category", "data": [m["month"] for m in items]},
            "yAxis": {"type": "value", "name": "件"},
            "series": [
                {
                    "name": "诉求量",
                    "type": "bar",
                    "data": [m["count"] for m in items],
                    "label": {"show": True, "position": "top"},
                }
            ],
        }
    )


def pin_map(
    map_name: str, region: str | None, point: tuple[float, float] | None, label: str
) -> str:
    """A small map for one complaint: its street shaded, its position pinned when known."""
    series: list[dict[str, Any]] = []
    if point is not None:
        series.append(
            {
                "name": label,
                "type": "scatter",
                "coordinateSystem": "geo",
                "symbolSize": 14,
                "itemStyle": {"color": "#F56C6C"},
                "data": [{"name": label, "value": [point[0], point[1]]}],
            }
        )
    return dumps(
        {
            "tooltip": {"trigger": "item"},
            "geo": {
                "map": map_name,
                "roam": True,
                "itemStyle": {"areaColor": "#f3f6fa", "borderColor": "#c0c4cc"},
                "label": {"show": False},
                "regions": [
                    {"name": region, "itemStyle": {"areaColor": "#fde2e2"}, "label": {"show": True}}
                ]
                if region
                else [],
            },
            "series": series,
        }
    )
