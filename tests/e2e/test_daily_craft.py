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

import httpx

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


async def _resolve_clock(p: Platform, complaint_id: str) -> dict[str, Any] | None:
    """The complaint's resolve clock as metrics shows it, or None while metrics has not
    read the events that start it (its projection follows the broker, not the request)."""
    answer = await p.call("GET", "metrics", f"/v1/complaints/{complaint_id}/sla", "supervisor")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    return next((c for c in answer.json()["clocks"] if c["clock"] == "resolve"), None)


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
        return clock if clock and clock["state"] == "paused" else None

    await p.until(paused, what="the resolve clock paused", timeout=30)
    # Past the deadline, still paused: no breach.
    await asyncio.sleep(max((short - datetime.now(UTC)).total_seconds() + 2, 0))
    clock = await _resolve_clock(p, cid)
    assert clock and clock["state"] == "paused" and clock["breached_at"] is None, clock
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
        return clock if clock and clock["breached_at"] else None

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

    async def pause_counted() -> dict[str, Any] | None:
        # Metrics reads the pause on its own group, held up to a second while events flow.
        card: dict[str, Any] = (await p.scorecard(period)).get(UNIT, {})
        return card if card.get("pauses", 0) >= 1 else None

    card = await p.until(pause_counted, what="the pause on the scorecard", timeout=30)
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


async def _merge(
    p: Platform, complaint_id: str, body: dict[str, Any], who: str = "dispatcher"
) -> httpx.Response:
    return await p.call("POST", "intake", f"/v1/complaints/{complaint_id}/merge", who, body=body)


async def test_a_manual_merge_closes_the_duplicate_with_its_master_and_tells_its_resident(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    master = await p.file_road_damage(
        "合并测试：和平路12号门前井盖缺失", phone="13355550001", grid="G01010101"
    )
    duplicate = await p.file_road_damage(
        "和平路那个没盖子的井，晚上太危险了", phone="13355550002", grid="G01010101"
    )
    stray = await p.file_road_damage(
        "和平路井盖问题（其实是另一处）", phone="13355550003", grid="G01010101"
    )
    mid, did, sid = master["complaint_id"], duplicate["complaint_id"], stray["complaint_id"]
    master_case = await p.case_of(mid, UNIT, round_no=1)
    dup_case = await p.case_of(did, UNIT, round_no=1)
    await p.case_of(sid, UNIT, round_no=1)

    note = {"note": "同一井盖，合并办理"}
    itself = await _merge(p, did, {"master_id": did, **note})
    assert itself.status_code == 422 and itself.json()["type"].endswith("merge-into-self")
    unit = await _merge(p, did, {"master_id": mid, **note}, who=f"unit:{UNIT}")
    assert unit.status_code == 403
    merged = await _merge(p, did, {"master_id": mid, **note})
    assert merged.status_code == 200, merged.text
    assert (merged.json()["status"], merged.json()["duplicate_of"]) == ("merged", mid)
    twice = await _merge(p, did, {"master_id": mid, **note}, who="operator")
    assert twice.status_code == 409 and twice.json()["type"].endswith("complaint-not-mergeable")
    # Into its own duplicate: the duplicate's master is itself.
    into_dup = await _merge(p, mid, {"master_id": did, **note})
    assert into_dup.status_code == 422 and into_dup.json()["type"].endswith("merge-into-self")
    a_master = await _merge(p, mid, {"master_id": sid, **note})
    assert a_master.status_code == 409 and a_master.json()["type"].endswith("has-duplicates")

    # Merged by mistake, then undone: routed anew in a new round.
    assert (await _merge(p, sid, {"master_id": mid, **note}, who="operator")).status_code == 200
    unmerged = await p.call(
        "POST", "intake", f"/v1/complaints/{sid}/unmerge", "operator", body={"note": "非同一处"}
    )
    assert unmerged.status_code == 200 and unmerged.json()["status"] == "received"
    await p.case_of(sid, UNIT, round_no=2)

    async def dup_case_ended() -> dict[str, Any] | None:
        shown = await _case(p, dup_case["case_id"])
        return shown if shown["status"] == "withdrawn" else None

    ended = await p.until(dup_case_ended, what="the duplicate's case ended", timeout=30)
    assert ended["history"][-1]["action"] == "merged"

    await p.handle(master_case, "井盖已补装")
    review = await p.review_of(mid, 1)
    await p.complete_review(
        review["review_id"], {"contacted": True, "resolved": True, "satisfaction": "satisfied"}
    )

    async def closed_with_master() -> dict[str, Any] | None:
        shown = await p.complaint(did)
        return shown if shown["status"] == "closed" else None

    shown = await p.until(closed_with_master, what="the duplicate closed with its master")
    assert any(e["detail"].get("with_master") for e in shown["timeline"])
    late = await _merge(p, sid, {"master_id": mid, **note})
    assert late.status_code == 409 and late.json()["type"].endswith("master-ended")

    async def told() -> list[str] | None:
        path = stack.notifications_file
        lines = path.read_text().splitlines() if path.exists() else []
        kinds = [line for line in lines if duplicate["ticket_no"] in line and '"resident.' in line]
        return kinds if len(kinds) >= 2 else None

    lines = await p.until(told, what="the duplicate's resident told twice", timeout=30)
    assert any("resident.merged" in line for line in lines)
    assert any("resident.master_closed" in line for line in lines)
    assert "13355550002" not in stack.notifications_file.read_text()
    assert any("133****0002" in line for line in lines)
