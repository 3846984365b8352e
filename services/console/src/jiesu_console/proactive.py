"""未诉先办: the case a hot spot suggests (its key, place, category, title and first text)."""

from __future__ import annotations

from typing import Any

from jiesu_console import tables

WINDOW_NAMES = {"day": "近 1 天", "week": "近 7 天", "month": "近 30 天"}


def hotspot_key(spot: dict[str, Any]) -> str:
    """Which hot spot a case came from: place, category and window (with its start day)."""
    day = str(spot["window_start"])[:10]
    return f"{spot['level']}:{spot['place_code']}:{spot['category_code']}:{spot['window']}:{day}"


def draft(spot: dict[str, Any], names: dict[str, Any]) -> dict[str, Any]:
    """The case a hot spot suggests: its key, place, category, a title and a first text."""
    place = str(tables.names_of(names, spot["level"]).get(spot["place_code"], spot["place_code"]))
    category = str(names["categories"].get(spot["category_code"], spot["category_code"]))
    return {
        "hotspot_key": hotspot_key(spot),
        "category_code": spot["category_code"],
        "grid_code": spot["place_code"] if spot["level"] == "grid" else "",
        "place": place,
        "title": f"热点转办：{place} · {category}",
        "content": (
            f"{WINDOW_NAMES.get(spot['window'], spot['window'])}{place}「{category}」诉求 "
            f"{spot['count']} 件，往常约 {spot['expected']:.1f} 件，明显异常。"
            "请承办单位主动排查、集中治理，未诉先办。"
        ),
    }
