"""How figures read on the page: rates as percentages, times in the hotline's zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jiesu_common.calendar import zone

STATUS = {
    "received": ("已受理", "info"),
    "in_progress": ("办理中", "warning"),
    "closed": ("已结案", "success"),
    "merged": ("已合并", "info"),
    "withdrawn": ("已撤回", "info"),
    "answered": ("已直办", "success"),
}
CLOCKS = {
    "accept": "签收",
    "contact": "响应",
    "resolve": "办结",
    "report_in": "报到",
}
LEVELS = {"reminder": "催办", "supervision": "督办", "notice": "通报"}
LIGHTS = {
    "red": ("超期", "danger"),
    "yellow": ("预警", "warning"),
    "green": ("正常", "success"),
    "paused": ("已挂起", "info"),
}
CASE_STATUS = {
    "assigned": ("待签收", "danger"),
    "accepted": ("已签收", "warning"),
    "in_progress": ("办理中", "warning"),
    "resolved": ("已办结", "success"),
    "returned": ("已退单", "info"),
    "withdrawn": ("已撤回", "info"),
}
COMPLAINT_STATUS = {
    "received": "已受理",
    "queued": "待派单",
    "consultation": "会商中",
    "assigned": "已派单",
    "accepted": "已签收",
    "in_progress": "办理中",
    "resolved": "已办结",
    "closed": "已结案",
    "merged": "已合并",
    "answered": "已直办",
    "withdrawn": "已撤回",
}
ACTIONS = {
    "assigned": "派单",
    "accept": "签收",
    "contact": "联系（响应）",
    "progress": "进展",
    "resolve": "办结",
    "return": "退单",
    "extension-request": "延期申请",
    "extension_granted": "延期批准",
    "extension_denied": "延期驳回",
    "return_rejected": "退单驳回",
    "report-in": "报到",
    "whistle": "吹哨",
    "pause-request": "挂起申请",
    "pause_granted": "挂起批准",
    "pause_denied": "挂起驳回",
    "pause_ended": "恢复计时",
    "reply_submitted": "答复提交审核",
    "reply_sent_back": "答复被退回",
    "reply_approved": "答复审核通过（办结）",
}
# Intake's timeline entries (``jiesu.<entity>.<verb>.v1``) as a person reads them.
EVENTS = {
    "complaint.received": "受理",
    "complaint.queued": "待人工派单",
    "complaint.assigned": "派单",
    "complaint.merged": "合并",
    "complaint.answered": "直办答复",
    "complaint.withdrawn": "撤回",
    "complaint.closed": "结案",
    "complaint.reopened": "重办",
    "consultation.opened": "发起会商",
    "consultation.decided": "会商决定",
    "case.accepted": "签收",
    "case.contacted": "联系诉求人",
    "case.progressed": "进展",
    "case.resolved": "办结",
    "case.returned": "退单",
    "return.approved": "同意退单",
    "return.rejected": "驳回退单",
    "extension.granted": "批准延期",
    "extension.denied": "拒绝延期",
    "pause.granted": "批准挂起",
    "pause.ended": "恢复计时",
    "reply.sent_back": "答复退回",
    "complaint.unmerged": "撤销合并",
    "review.completed": "回访",
    "whistle.blown": "吹哨",
    "whistle.reported": "报到",
}
CONTACT_METHODS = {
    "phone": "电话",
    "visit": "上门",
    "sms": "短信",
    "wechat": "微信",
    "other": "其他",
}
RESULTS = {
    "solved": "已解决",
    "partly_solved": "部分解决",
    "explained": "已解释说明",
    "unsolvable": "无法解决",
}
SATISFACTION = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
OUTCOMES = {"closed": ("已结案", "success"), "reopened": ("已重办", "danger")}
URGENCY = {
    "emergency": ("紧急", "danger"),
    "urgent": ("加急", "warning"),
    "normal": ("一般", "info"),
}
QUEUE_REASONS = {
    "unclassified": "无法自动分类",
    "no_rule": "无匹配派单规则",
    "unlocated": "无法定位",
    "unknown_category": "未知类别",
}


def pct(value: float | None) -> str:
    """0.9345 → 93.5%; None → —."""
    return "—" if value is None else f"{value * 100:.1f}%"


def num(value: Any) -> str:
    """A count, or — when missing."""
    return "—" if value is None else f"{value:,}" if isinstance(value, int) else f"{value}"


def when(value: str | datetime | None, tz: str, seconds: bool = False) -> str:
    """An ISO time as local ``YYYY-MM-DD HH:MM``."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


def change(now: float | int | None, before: float | int | None, rate: bool) -> dict[str, Any]:
    """The change against the period before: text and direction (up, down, flat, none)."""
    if now is None or before is None:
        return {"text": "无对比", "dir": "none"}
    delta = now - before
    text = f"{delta * 100:+.1f} 个百分点" if rate else f"{delta:+,}"
    return {"text": text, "dir": "up" if delta > 0 else "down" if delta < 0 else "flat"}


def duration(seconds: int) -> str:
    """Remaining or overdue time: 2天3小时 / 3小时05分 / 12分."""
    s = abs(seconds)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days}天{hours}小时"
    elif hours:
        text = f"{hours}小时{minutes:02d}分"
    else:
        text = f"{minutes}分"
    return ("超期 " if seconds < 0 else "剩余 ") + text
