"""What every figure counts: its label, formula and denominator (shown on hover)."""

from __future__ import annotations

from typing import Any

# key → (label, formula, denominator). Chinese first; the console shows them verbatim.
NOTES: dict[str, tuple[str, str, str]] = {
    "filed": ("受理量", "受理时间在区间内的诉求件数（不含合并的重复件）", "—（计数）"),
    "assigned": ("派单量", "派单时间在区间内的派单轮次数（含改派、重办）", "—（计数）"),
    "closed": ("结案量", "回访结案时间在区间内的诉求件数", "—（计数）"),
    "breached": (
        "超期量",
        "时限到期未完成（超期）发生在区间内的时限数（签收、响应、办结、报到）",
        "—（计数）",
    ),
    "overdue_now": (
        "当前超期",
        "正在计时且已过期限的时限数（现行轮次、未结案）",
        "—（计数，实时）",
    ),
    "response_rate": ("响应率", "回访中“已联系”件数 ÷ 回访件数", "区间内完成的回访件数"),
    "resolution_rate": ("解决率", "回访中“已解决”件数 ÷ 回访件数", "区间内完成的回访件数"),
    "satisfaction_rate": ("满意率", "（满意 + 基本满意）件数 ÷ 回访件数", "区间内完成的回访件数"),
    "composite": (
        "综合得分",
        "权重 × 响应率 + 权重 × 解决率 + 权重 × 满意率（默认 10% / 45% / 45%）",
        "区间内完成的回访件数",
    ),
    "on_time_resolve_rate": (
        "按期办结率",
        "按期办结的办结时限数 ÷ 已判定（已办结或已超期）的办结时限数",
        "区间内开始计时且已判定的办结时限数",
    ),
    "return_rate": ("退单率", "退单件数 ÷ 派单轮次数", "区间内派单轮次数"),
    "misroute_rate": ("改派率（错派）", "退单获批后改派的件数 ÷ 派单轮次数", "区间内派单轮次数"),
    "reopen_rate": (
        "重办率",
        "回访判定未解决或不满意而重办的件数 ÷ 回访件数",
        "区间内完成的回访件数",
    ),
    "backlog": ("积压量", "当日结束时已受理、尚未结案/撤回/直办的诉求件数", "—（计数）"),
    "median_close_hours": (
        "结案用时中位数（小时）",
        "当日结案诉求从受理到结案用时的中位数",
        "当日结案件数",
    ),
    "volume": ("诉求量", "受理时间在区间内、落在该区域的诉求件数", "—（计数）"),
    "hotspot_surprise": (
        "异常度",
        "−log10 P(X ≥ 本期件数)，X ~ 泊松(λ)，λ =（前 N 期件数之和 + 1）÷（N + 1）",
        "同一类别、同一地点前 N 个同长度时间窗的件数",
    ),
    "hotspot_z": ("Z 值", "（本期件数 − λ）÷ √λ", "同上 λ"),
    "repeat_callers": (
        "重复来电人",
        "本期来电、在分析区间内就该热点来电 ≥ 2 次的来电人数（按化名 caller_ref）",
        "—（计数）",
    ),
    "repeat_addresses": ("重复地址", "本期出现、在分析区间内 ≥ 2 次出现的地址数", "—（计数）"),
    "duplicates": ("合并重复件", "本期合并到该热点诉求的重复件数", "—（计数）"),
}


def notes(*keys: str) -> dict[str, dict[str, Any]]:
    """The notes of ``keys``, as the API returns them."""
    return {
        k: {"label": NOTES[k][0], "formula": NOTES[k][1], "denominator": NOTES[k][2]} for k in keys
    }
