"""End to end, on real processes: the hotline's daily craft (issue 18, parts 2–4).

A paused clock (挂起) does not breach while paused and breaches after it resumes; a reply
the city reviews is sent back with a note, then approved, and only then counts as resolved;
an operator merges a duplicate into its master by hand and it closes with its master.
Bad input (deciding twice, resuming twice) is refused and changes nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jiesu_common.devstack import DevStack
from tests.e2e.workflow import Platform

UNIT = "dept-jt"  # the seeded lead of road damage in grid G01010101


async def _pending(p: Platform, path: str, complaint_id: str) -> dict[str, Any]:
    """The complaint's pending request in one of the centre's queues, once it arrives."""

    async def probe() -> dict[str, Any] | None:
        answer = await p.call(
            "GET", "dispatch", path, "dispatcher", params={"complaint_id": complaint_id}
        )
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        return items[0] if items else None

    found: dict[str, Any] = await p.until(probe, what=f"a pending {path}", timeout=60)
    return found


async def _resolve_clock(p: Platform, complaint_id: str) -> dict[str, Any]:
    answer = await p.call("GET", "metrics", f"/v1/complaints/{complaint_id}/sla", "supervisor")
    assert answer.status_code == 200, answer.text
    return next(c for c in answer.json()["clocks"] if c["clock"] == "resolve")


async def test_a_paused_clock_does_not_breach_while_paused_and_breaches_after_resuming(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    filed = await p.file_road_damage(
        "挂起测试：建设路路面塌陷，需等法院裁定权属", phone="13312341234", grid="G01010101"
    )
    cid = filed["complaint_id"]
    case = await p.case_of(cid, UNIT, round_no=1)
    await p.act(case, "accept", {})
    # A resolve clock of seconds: the centre grants an extension to 8 s from now (the
    # dispatcher's deadline override), so the test need not wait for days.
    week_later = datetime.fromisoformat(case["deadlines"]["resolve_by"]) + timedelta(days=1)
    await p.act(case, "extension-request", {"until": week_later.isoformat(), "reason": "测试"})
    extension = await _pending(p, "/v1/extensions", cid)
    short = datetime.now(UTC) + timedelta(seconds=8)
    granted = await p.call(
        "POST",
        "dispatch",
        f"/v1/extensions/{extension['extension_id']}/decision",
        "dispatcher",
        body={"decision": "grant", "resolve_by": short.isoformat()},
    )
    assert granted.status_code == 200, granted.text

    asked = await p.act(case, "pause-request", {"reason": "等待法院裁定 / waiting for a court"})
    assert asked["pause_status"] == "pending"
    again = await p.call(
        "POST",
        "department",
        f"/v1/cases/{case['case_id']}/pause-request",
        f"unit:{UNIT}",
        body={"reason": "再次申请"},
    )
    assert again.status_code == 409 and again.json()["type"].endswith("pause-pending")
    pause = await _pending(p, "/v1/pauses", cid)
    decided = await p.call(
        "POST",
        "dispatch",
        f"/v1/pauses/{pause['pause_id']}/decision",
        "dispatcher",
        body={"decision": "grant", "note": "同意挂起"},
    )
    assert decided.status_code == 200 and decided.json()["status"] == "granted", decided.text
    twice = await p.call(
        "POST",
        "dispatch",
        f"/v1/pauses/{pause['pause_id']}/decision",
        "dispatcher",
        body={"decision": "deny"},
    )
    assert twice.status_code == 409 and twice.json()["type"].endswith("pause-decided")
    paused_at = datetime.fromisoformat(decided.json()["paused_at"])

    async def paused() -> dict[str, Any] | None:
        clock = await _resolve_clock(p, cid)
        return clock if clock["state"] == "paused" else None

    await p.until(paused, what="the resolve clock paused", timeout=30)
    # Past the deadline, still paused: no breach.
    await asyncio.sleep(max((short - datetime.now(UTC)).total_seconds() + 2, 0))
    clock = await _resolve_clock(p, cid)
    assert clock["state"] == "paused" and clock["breached_at"] is None, clock
    shown = await p.call("GET", "department", f"/v1/cases/{case['case_id']}", f"unit:{UNIT}")
    assert shown.json()["pause_status"] == "paused"

    resumed = await p.call(
        "POST", "dispatch", f"/v1/pauses/{pause['pause_id']}/resume", f"unit:{UNIT}", body={}
    )
    assert resumed.status_code == 200 and resumed.json()["status"] == "ended", resumed.text
    ended_at = datetime.fromisoformat(resumed.json()["ended_at"])
    twice = await p.call(
        "POST", "dispatch", f"/v1/pauses/{pause['pause_id']}/resume", "dispatcher", body={}
    )
    assert twice.status_code == 409 and twice.json()["type"].endswith("pause-not-running")

    async def breached() -> dict[str, Any] | None:
        clock = await _resolve_clock(p, cid)
        return clock if clock["breached_at"] else None

    clock = await p.until(breached, what="the resumed clock's breach", timeout=40)
    moved = datetime.fromisoformat(clock["effective_deadline"])
    assert abs((moved - short) - (ended_at - paused_at)) < timedelta(seconds=1)
    assert datetime.fromisoformat(clock["breached_at"]) >= moved
    assert clock["paused_s"] > 0 and clock["state"] == "breached"

    async def case_moved() -> dict[str, Any] | None:
        answer = await p.call("GET", "department", f"/v1/cases/{case['case_id']}", f"unit:{UNIT}")
        body = dict(answer.json())
        return body if body["pause_status"] is None else None

    shown_case = await p.until(case_moved, what="the case resumed", timeout=30)
    actions = [h["action"] for h in shown_case["history"]]
    assert "pause_granted" in actions and "pause_ended" in actions
    resolve_by = datetime.fromisoformat(shown_case["deadlines"]["resolve_by"])
    assert abs(resolve_by - moved) < timedelta(seconds=1)

    period = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    card = (await p.scorecard(period))[UNIT]
    assert card["pauses"] >= 1 and card["paused_hours"] >= 0


async def _case(p: Platform, case_id: str) -> dict[str, Any]:
    answer = await p.call("GET", "department", f"/v1/cases/{case_id}", f"unit:{UNIT}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_reviewed_reply_is_sent_back_then_approved_and_only_then_resolves(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    policy = "/v1/reply-review-policy"
    unknown = await p.call("PUT", "dispatch", policy, "dispatcher", body={"unit_ids": ["x-none"]})
    assert unknown.status_code == 422, unknown.text
    put = await p.call("PUT", "dispatch", policy, "dispatcher", body={"unit_ids": [UNIT]})
    assert put.status_code == 200 and put.json()["unit_ids"] == [UNIT], put.text
    try:
        await _reply_review_flow(p)
    finally:
        restored = await p.call("PUT", "dispatch", policy, "dispatcher", body={})
        assert restored.status_code == 200, restored.text


async def _reply_review_flow(p: Platform) -> None:
    bad = await p.call(
        "POST",
        "department",
        "/v1/reply-templates",
        f"unit:{UNIT}",
        body={"title": "错", "body": "{phone}"},
    )
    assert bad.status_code == 422 and "phone" in bad.text
    template = await p.call(
        "POST",
        "department",
        "/v1/reply-templates",
        f"unit:{UNIT}",
        body={
            "category_code": "ROAD-DAMAGE",
            "title": "路面修复",
            "body": "您于{received_date}反映的路面问题（工单{ticket_no}）已由{unit_id}修复。",
        },
    )
    assert template.status_code == 201, template.text
    filed = await p.file_road_damage(
        "答复审核测试：人民路井盖破损", phone="13312345678", grid="G01010101"
    )
    cid = filed["complaint_id"]
    case = await p.case_of(cid, UNIT, round_no=1)
    assert case["reply_review_required"] is True
    await p.act(case, "accept", {})
    await p.act(case, "contact", {"method": "phone"})
    draft = await p.call(
        "GET",
        "department",
        f"/v1/cases/{case['case_id']}/reply-draft",
        f"unit:{UNIT}",
        params={"template_id": template.json()["template_id"]},
    )
    assert draft.status_code == 200, draft.text
    reply = draft.json()["reply"]
    assert filed["ticket_no"] in reply and f"由{UNIT}修复" in reply

    submitted = await p.act(case, "resolve", {"reply": reply, "result": "solved"})
    assert (submitted["status"], submitted["reply_review"]) == ("in_progress", "pending")
    resolve = f"/v1/cases/{case['case_id']}/resolve"
    twice = await p.call("POST", "department", resolve, f"unit:{UNIT}", body={"reply": "再次"})
    assert twice.status_code == 409 and twice.json()["type"].endswith("reply-pending")
    first = await _pending(p, "/v1/reply-reviews", cid)
    decide = f"/v1/reply-reviews/{first['reply_review_id']}/decision"
    noteless = await p.call(
        "POST", "dispatch", decide, "dispatcher", body={"decision": "send_back"}
    )
    assert noteless.status_code == 422
    back = await p.call(
        "POST",
        "dispatch",
        decide,
        "dispatcher",
        body={"decision": "send_back", "note": "请写明修复时间"},
    )
    assert back.status_code == 200 and back.json()["status"] == "sent_back", back.text

    async def sent_back() -> dict[str, Any] | None:
        shown = await _case(p, case["case_id"])
        return shown if shown["reply_review"] == "sent_back" else None

    shown = await p.until(sent_back, what="the reply sent back", timeout=30)
    assert shown["status"] == "in_progress" and shown["reply_review_note"] == "请写明修复时间"
    assert (await p.complaint(cid))["status"] != "resolved"

    await p.act(case, "resolve", {"reply": reply + "修复时间：12月2日。", "result": "solved"})

    async def second_pending() -> dict[str, Any] | None:
        answer = await p.call(
            "GET", "dispatch", "/v1/reply-reviews", "dispatcher", params={"complaint_id": cid}
        )
        items = [
            i for i in answer.json()["items"] if i["reply_review_id"] != first["reply_review_id"]
        ]
        return items[0] if items else None

    second = await p.until(second_pending, what="the second reply to review", timeout=30)
    decide = f"/v1/reply-reviews/{second['reply_review_id']}/decision"
    approved = await p.call("POST", "dispatch", decide, "dispatcher", body={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    again = await p.call("POST", "dispatch", decide, "dispatcher", body={"decision": "approve"})
    assert again.status_code == 409 and again.json()["type"].endswith("reply-review-decided")

    async def resolved() -> dict[str, Any] | None:
        shown = await _case(p, case["case_id"])
        return shown if shown["status"] == "resolved" else None

    shown = await p.until(resolved, what="the approved reply resolving the case", timeout=30)
    decided_at = datetime.fromisoformat(approved.json()["decided_at"])
    assert datetime.fromisoformat(shown["resolved_at"]) == decided_at
    assert shown["reply"].endswith("修复时间：12月2日。")
    # The resolve clock ran until the approval, and the callback review follows as usual.

    async def clock_stopped() -> dict[str, Any] | None:
        clock = await _resolve_clock(p, cid)
        return clock if clock["stopped_at"] else None

    clock = await p.until(clock_stopped, what="the resolve clock stopped", timeout=30)
    assert datetime.fromisoformat(clock["stopped_at"]) == decided_at
    await p.review_of(cid, 1)
