"""未诉先办: who may file a case the city opens itself, and how such a case is marked.

A supervisor (or an admin) turns a hot spot into a case by naming it (``hotspot_key``); a
grid worker files what they find on patrol through the ``grid`` channel, in their own
grid. Both are filed like any complaint and marked proactive, so dispatch routes them as
usual and the scorecards count them apart from residents' requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from jiesu_common.auth import Principal
from jiesu_common.http import Problem
from jiesu_intake.schemas import ComplaintCreate

HOTSPOT_FILERS = ("supervisor", "admin")


@dataclass(frozen=True)
class Origin:
    """How a filing is marked: proactive or not, and the grid it is in."""

    proactive: Literal["hotspot", "patrol"] | None
    grid_code: str | None


def origin_of(principal: Principal, body: ComplaintCreate) -> Origin:
    """The filing's origin; a 403/422 problem when the caller may not file it so."""
    answered = body.answer is not None or body.article_id is not None
    if body.hotspot_key is not None:
        if principal.role not in HOTSPOT_FILERS:
            raise Problem(
                403,
                "hotspot-case-not-allowed",
                "无权将热点转为案件 / Not allowed",
                "只有督查人员可将热点转为案件 / only supervisors turn hot spots into cases",
            )
        if answered:
            raise Problem.invalid(
                "热点案件不能直接答复 / a hot-spot case is not answered on the spot"
            )
        return Origin("hotspot", body.location.grid_code)
    if principal.role == "supervisor":
        raise Problem(
            403,
            "hotspot-case-only",
            "督查人员只能将热点转为案件 / Hot-spot cases only",
            "督查人员立案须指明热点（hotspot_key）/ supervisors file only hot-spot cases",
        )
    if principal.role != "grid_worker":
        return Origin(None, body.location.grid_code)
    if body.channel != "grid":
        raise Problem.invalid(
            "网格员须经 grid 渠道上报 / grid workers file through the grid channel"
        )
    if answered:
        raise Problem.invalid("网格员上报不能直接答复 / a patrol find is not answered on the spot")
    grid = body.location.grid_code or principal.grid_code
    if grid != principal.grid_code:
        raise Problem(
            403,
            "outside-grid",
            "不在本网格 / Outside your grid",
            f"网格员只能上报本网格（{principal.grid_code}）的问题 / "
            f"a grid worker files in their own grid ({principal.grid_code})",
        )
    return Origin("patrol", grid)
