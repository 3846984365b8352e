"""Every table of the dashboard, built once: the page renders it, the exports write it.

A table is its columns and rows of cells; a cell's ``text`` is exactly what the page shows
and what CSV and XLSX hold, so an export always matches the table on the screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from jiesu_console import fmt

METRICS = {
    "composite": "综合得分",
    "satisfaction_rate": "满意率",
    "resolution_rate": "解决率",
    "response_rate": "响应率",
    "on_time_resolve_rate": "按期办结率",
    "return_rate": "退单率",
    "reopen_rate": "重办率",
    "misroute_rate": "改派率",
}
LEVEL_NAMES = {
    "unit": "承办单位",
    "street": "街道",
    "district": "区",
    "community": "社区",
    "grid": "网格",
}


@dataclass
class Cell:
    """One cell: what it says, and optionally a tag colour, a drill-down link, a hover text."""

    text: str
    tag: str | None = None
    drill: str | None = None
    title: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class Table:
    """A titled table."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    empty: str = "暂无数据"


def drill(filters: dict[str, Any], **extra: Any) -> str:
    """The drill-down URL for the complaints behind a number (the view's filters kept)."""
    query = {k: v for k, v in {**filters, **extra}.items() if v not in (None, "")}
    return "/dashboard/complaints?" + urlencode(query)


NAME_TABLES = {
    "unit": "units",
    "street": "streets",
    "district": "districts",
    "community": "communities",
    "grid": "grids",
}


def names_of(names: dict[str, Any], level: str) -> dict[str, str]:
    """The code → name table of a level."""
    table: dict[str, str] = names.get(NAME_TABLES[level], {})
    return table


def _name(names: dict[str, Any], level: str, key: str) -> str:
    return str(names_of(names, level).get(key, key))


def ranking_table(data: dict[str, Any], names: dict[str, Any], filters: dict[str, Any]) -> Table:
    """考核排名: rank, change of rank, the chosen metric and every rate beside it."""
    level, metric = data["level"], data["metric"]
    rows = []
    for r in data["items"]:
        where = {level: r["key"], "period": data["period"]}
        change = r["rank_change"]
        rows.append(
            [
                Cell(
                    str(r["rank"]) if r["ranked"] else "—",
                    title=None if r["ranked"] else "样本不足，不参与排名",
                ),
                Cell(
                    "—"
                    if change is None
                    else (
                        "↑" + str(change)
                        if change > 0
                        else "↓" + str(-change)
                        if change < 0
                        else "→0"
                    ),
                    tag=None
                    if change is None
                    else "success"
                    if change > 0
                    else "danger"
                    if change < 0
                    else "info",
                    title=f"上期（{data['previous_period']}）排名 {r['previous_rank'] or '—'}",
                ),
                Cell(
                    _name(names, level, r["key"]), drill=drill(filters, measure="assigned", **where)
                ),
                Cell(fmt.pct(r["value"]), tag=None if r["ranked"] else "info"),
                Cell(
                    fmt.num(r["sample"]),
                    tag=None if r["ranked"] else "warning",
                    title="样本数（分母）",
                ),
                Cell(fmt.pct(r["response_rate"])),
                Cell(fmt.pct(r["resolution_rate"])),
                Cell(fmt.pct(r["satisfaction_rate"])),
                Cell(fmt.pct(r["composite"])),
                Cell(fmt.pct(r["on_time_resolve_rate"])),
                Cell(fmt.pct(r["return_rate"])),
                Cell(fmt.pct(r["reopen_rate"])),
                Cell(fmt.num(r["assigned"]), drill=drill(filters, measure="assigned", **where)),
                Cell(fmt.num(r["reviewed"]), drill=drill(filters, measure="reviewed", **where)),
            ]
        )
    return Table(
        "rankings",
        f"考核排名（{LEVEL_NAMES[level]}，按{METRICS[metric]}）",
        [
            "排名",
            "名次变化",
            LEVEL_NAMES[level],
            f"排名指标（{METRICS[metric]}）",
            "样本数",
            "响应率",
            "解决率",
            "满意率",
            "综合得分",
            "按期办结率",
            "退单率",
            "重办率",
            "派单量",
            "回访量",
        ],
        rows,
    )


def quality_table(data: dict[str, Any], names: dict[str, Any], filters: dict[str, Any]) -> Table:
    """派单质量 per unit: returns, approved returns (misroutes), reopens."""
    level = data["level"]
    rows = []
    for r in data["items"]:
        where = {level: r["key"], "period": data["period"]}
        rows.append(
            [
                Cell(_name(names, level, r["key"])),
                Cell(fmt.num(r["assigned"]), drill=drill(filters, measure="assigned", **where)),
                Cell(fmt.num(r["returned"]), drill=drill(filters, measure="returned", **where)),
                Cell(fmt.pct(r["return_rate"])),
                Cell(fmt.num(r["returns_approved"])),
                Cell(fmt.pct(r["misroute_rate"])),
                Cell(fmt.num(r["reviewed"])),
                Cell(fmt.num(r["reopened"]), drill=drill(filters, measure="reopened", **where)),
                Cell(fmt.pct(r["reopen_rate"])),
            ]
        )
    return Table(
        "quality",
        f"派单质量（{LEVEL_NAMES[level]}）",
        [
            LEVEL_NAMES[level],
            "派单量",
            "退单量",
            "退单率",
            "退单获批（改派）",
            "改派率",
            "回访量",
            "重办量",
            "重办率",
        ],
        rows,
    )


def flows_table(data: dict[str, Any], names: dict[str, Any]) -> Table:
    """Approved returns: from which unit to which."""
    rows = [
        [
            Cell(_name(names, "unit", f["source"])),
            Cell(_name(names, "unit", f["target"])),
            Cell(fmt.num(f["count"])),
        ]
        for f in data["flows"]
    ]
    return Table("flows", "退单改派流向", ["退单单位", "改派至", "件数"], rows, "本期无获批退单")


def misroute_table(data: dict[str, Any], names: dict[str, Any]) -> Table:
    """错派 per category: complaints closed in the month that their first lead unit did not
    close, most misrouted first."""
    rows = [
        [
            Cell(str(names["categories"].get(r["key"], r["key"]))),
            Cell(fmt.num(r["closed"])),
            Cell(fmt.num(r["misrouted"])),
            Cell(fmt.pct(r["misroute_rate"])),
        ]
        for r in data["items"]
    ]
    return Table(
        "misroutes",
        f"错派率（按类别，{data['period']} 办结）",
        ["类别", "办结量", "错派量", "错派率"],
        rows,
        "本期无办结诉求",
    )


def board_table(data: dict[str, Any], names: dict[str, Any], tz: str) -> Table:
    """超期/预警: lights, countdown, the escalation ladder with each rung's time."""
    rows = []
    for r in data["items"]:
        light, tag = fmt.LIGHTS[r["light"]]
        ladder = " → ".join(
            f"{fmt.LEVELS[s['level']]} {fmt.when(s['due_at'], tz)}{' ✔' if s['reached'] else ''}"
            for s in r["ladder"]
        )
        rows.append(
            [
                Cell(light, tag=tag),
                Cell(r["ticket_no"] or "—"),
                Cell(fmt.CLOCKS.get(r["clock"], r["clock"])),
                Cell(_name(names, "unit", r["unit_id"])),
                Cell(str(names["categories"].get(r["category_code"], r["category_code"] or "—"))),
                Cell(str(names["streets"].get(r["street_code"], r["street_code"] or "—"))),
                Cell(fmt.when(r["deadline"], tz)),
                Cell(
                    fmt.duration(r["remaining_seconds"]),
                    tag=tag,
                    attrs={"data-deadline": r["deadline"]},
                ),
                Cell(fmt.LEVELS.get(r["level"] or "", "未升级")),
                Cell(ladder, title="催办 → 督办 → 通报，各步应发时间；✔ 已发出"),
            ]
        )
    return Table(
        "board",
        "超期/预警清单",
        [
            "信号灯",
            "工单号",
            "时限",
            "承办单位",
            "类别",
            "街道",
            "期限",
            "倒计时",
            "当前级别",
            "督办阶梯",
        ],
        rows,
        "该时段没有待办时限",
    )


def hotspot_table(data: dict[str, Any], names: dict[str, Any], tz: str) -> Table:
    """热点: the clusters, most unusual first."""
    rows = []
    for n, h in enumerate(data["items"], start=1):
        level = h["level"]
        window = {"start": h["window_start"], "end": h["window_end"]}
        rows.append(
            [
                Cell(str(n)),
                Cell(str(names["categories"].get(h["category_code"], h["category_code"]))),
                Cell(_name(names, level, h["place_code"]), title=LEVEL_NAMES[level]),
                Cell(
                    fmt.num(h["count"]),
                    drill=drill(
                        {},
                        measure="filed",
                        category=h["category_code"],
                        **{level: h["place_code"]},
                        **window,
                    ),
                ),
                Cell(" ".join(str(c) for c in h["history"]), title="前几期件数（由远到近）"),
                Cell(f"{h['expected']:.2f}"),
                Cell("—" if h["trend"] is None else f"×{h['trend']:.1f}"),
                Cell(
                    f"{h['surprise']:.1f}",
                    tag="danger"
                    if h["surprise"] >= 3
                    else "warning"
                    if h["surprise"] >= 1.3
                    else None,
                ),
                Cell(fmt.num(h["repeat_callers"])),
                Cell(fmt.num(h["repeat_addresses"])),
                Cell(fmt.num(h["duplicates"])),
                Cell(fmt.pct(h["satisfaction_rate"])),
            ]
        )
    return Table(
        "hotspots",
        "热点诉求（按异常度排序）",
        [
            "序号",
            "类别",
            "地点",
            "本期件数",
            "前期件数",
            "期望值 λ",
            "趋势",
            "异常度",
            "重复来电人",
            "重复地址",
            "合并重复件",
            "满意率",
        ],
        rows,
        "当前时间窗内没有达到最小件数的聚集",
    )


def complaints_table(data: dict[str, Any], names: dict[str, Any], tz: str) -> Table:
    """The complaints behind a number."""
    rows = []
    for c in data["items"]:
        status, tag = fmt.STATUS.get(c["status"], (c["status"], "info"))
        rows.append(
            [
                Cell(c["ticket_no"] or "—"),
                Cell(str(names["categories"].get(c["category_code"], c["category_code"] or "—"))),
                Cell(str(names["districts"].get(c["district_code"], c["district_code"] or "—"))),
                Cell(str(names["streets"].get(c["street_code"], c["street_code"] or "—"))),
                Cell(
                    str(names["communities"].get(c["community_code"], c["community_code"] or "—"))
                ),
                Cell(c["address"] or "—"),
                Cell(_name(names, "unit", c["lead_unit_id"]) if c["lead_unit_id"] else "—"),
                Cell(status, tag=tag),
                Cell(fmt.when(c["received_at"], tz)),
                Cell(fmt.when(c["closed_at"], tz)),
            ]
        )
    return Table(
        "complaints",
        "诉求明细",
        [
            "工单号",
            "类别",
            "区",
            "街道",
            "社区",
            "地址",
            "承办单位（现）",
            "状态",
            "受理时间",
            "结案时间",
        ],
        rows,
    )


def trends_table(data: dict[str, Any]) -> Table:
    """The daily trend figures."""
    rows = [
        [
            Cell(d["day"]),
            Cell(fmt.num(d["filed"])),
            Cell(fmt.num(d["closed"])),
            Cell(fmt.num(d["backlog"])),
            Cell("—" if d["median_close_hours"] is None else f"{d['median_close_hours']:.1f}"),
            Cell(fmt.pct(d["on_time_resolve_rate"])),
        ]
        for d in data["items"]
    ]
    return Table(
        "trends",
        "每日趋势",
        ["日期", "受理量", "结案量", "积压量", "结案用时中位数（小时）", "按期办结率"],
        rows,
    )
