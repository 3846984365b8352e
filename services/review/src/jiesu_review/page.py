"""The resident's self-review page: small, mobile, Chinese, no script.

Rendered here with ``html.escape`` (a handful of fields; no template engine needed). The
style is inline and allowed by its hash in the page's Content-Security-Policy, so the page
loads nothing else and runs nothing.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Any

STYLE = (
    "*{box-sizing:border-box}"
    "body{margin:0;font-family:'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif;"
    "font-size:16px;color:#303133;background:#f0f2f5}"
    ".bar{background:#304156;color:#fff;padding:14px 16px;font-weight:600}"
    ".bar small{display:block;color:#bfcbd9;font-weight:normal;font-size:12px}"
    ".card{background:#fff;margin:12px;padding:16px;border-radius:6px;"
    "box-shadow:0 1px 2px rgba(0,0,0,.06)}"
    ".muted{color:#909399;font-size:13px}"
    "fieldset{border:none;margin:0 0 14px;padding:0}"
    "legend{font-weight:600;margin-bottom:8px}"
    "label.opt{display:block;padding:10px 12px;margin:6px 0;border:1px solid #dcdfe6;"
    "border-radius:4px}"
    "textarea{width:100%;min-height:90px;border:1px solid #dcdfe6;border-radius:4px;padding:8px;"
    "font-size:15px}"
    "button{width:100%;height:44px;border:none;border-radius:4px;background:#409EFF;color:#fff;"
    "font-size:17px}"
    ".err{color:#F56C6C;margin:0 0 10px}"
    ".ok{color:#67C23A;font-size:20px;font-weight:600}"
    ".bad{color:#E6A23C;font-size:20px;font-weight:600}"
)
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}

SATISFACTION = (
    ("satisfied", "满意"),
    ("basically_satisfied", "基本满意"),
    ("dissatisfied", "不满意"),
)

# Why a link is refused: the heading and what the resident can do.
REFUSALS = {
    "tampered": ("链接无效", "该链接不完整或已被修改，请核对短信中的链接，或致电 12345 热线。"),
    "expired": ("链接已过期", "该评价链接已超过有效期。如需评价，请致电 12345 热线。"),
    "used": ("链接已使用", "您已通过该链接提交过评价，感谢您的反馈。"),
    "revoked": ("链接已失效", "该链接已被新的评价链接取代，请使用最新短信中的链接。"),
    "closed": ("回访已完成", "该诉求的回访已经完成，无需再次评价，感谢您的支持。"),
    "limited": ("访问过于频繁", "请稍后再试。"),
}


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)} · 12345 热线</title><style>{STYLE}</style></head><body>"
        '<div class="bar">12345 市民服务热线<small>诉求办理回访 · 群众自评</small></div>'
        f"{body}</body></html>"
    )


def refusal_page(reason: str) -> str:
    """A clear page for a link that cannot be used (tampered, expired, used …)."""
    title, text = REFUSALS[reason]
    return _page(
        title,
        f'<div class="card"><p class="bad">{escape(title)}</p><p>{escape(text)}</p></div>',
    )


def done_page(outcome: str) -> str:
    """Thanks, and what happens next."""
    follow = (
        "您的诉求已办结，感谢您的评价。"
        if outcome == "closed"
        else "我们已将您的诉求退回承办单位重新办理（重办），请留意后续联系。"
    )
    return _page(
        "感谢评价",
        f'<div class="card"><p class="ok">提交成功</p><p>{escape(follow)}</p></div>',
    )


def _choice(name: str, value: str, label: str, checked: str | None) -> str:
    mark = " checked" if checked == value else ""
    return (
        f'<label class="opt"><input type="radio" name="{name}" value="{value}"{mark} required> '
        f"{escape(label)}</label>"
    )


def form_page(
    summary: dict[str, Any], *, action: str, error: str | None = None, values: dict[str, str]
) -> str:
    """The questions, under the complaint's masked summary."""
    facts = "".join(
        f'<p class="muted">{escape(k)}：{escape(str(v))}</p>' for k, v in summary.items() if v
    )
    yes_no = (("yes", "是"), ("no", "否"))
    contacted = "".join(_choice("contacted", v, t, values.get("contacted")) for v, t in yes_no)
    resolved = "".join(_choice("resolved", v, t, values.get("resolved")) for v, t in yes_no)
    satisfied = "".join(
        _choice("satisfaction", v, t, values.get("satisfaction")) for v, t in SATISFACTION
    )
    problem = f'<p class="err">{escape(error)}</p>' if error else ""
    comment = escape(values.get("comment", ""))
    body = (
        f'<div class="card"><p><b>您的诉求已由承办单位答复，请您评价</b></p>{facts}</div>'
        f'<form class="card" method="post" action="{escape(action)}">{problem}'
        f"<fieldset><legend>1. 承办单位是否与您联系过？</legend>{contacted}</fieldset>"
        f"<fieldset><legend>2. 您反映的问题是否已解决？</legend>{resolved}</fieldset>"
        f"<fieldset><legend>3. 您对办理结果是否满意？</legend>{satisfied}</fieldset>"
        "<fieldset><legend>4. 意见或建议（选填）</legend>"
        f'<textarea name="comment" maxlength="500">{comment}</textarea></fieldset>'
        '<button type="submit">提交评价</button>'
        '<p class="muted">链接仅可提交一次，提交后不可修改。</p></form>'
    )
    return _page("办理评价", body)
