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
