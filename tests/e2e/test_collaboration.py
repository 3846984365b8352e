"""End to end, on real processes: joint consultation (会商) and whistles (吹哨报到).

A complaint two units share is decided jointly and both units get their cases; a
consultation nobody decides falls back to the district government exactly once, also
when dispatch was down (SIGKILL) at its deadline; a whistle summons two departments, one
reports in on time and one late, and metrics shows exactly that.
"""

import asyncio
import os
import signal
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jiesu_common.devstack import SERVICES, DevStack, wait_ready
from tests.e2e.workflow import Platform, StreamWatcher

SPEC = {s.name: s for s in SERVICES}


async def _status(p: Platform, complaint_id: str, wanted: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        shown = await p.complaint(complaint_id)
        return shown if shown["status"] == wanted else None

    found: dict[str, Any] = await p.until(probe, what=f"{complaint_id} {wanted}")
    return found


async def _consultation(p: Platform, complaint_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        answer = await p.call(
            "GET",
            "dispatch",
            "/v1/consultations",
            "dispatcher",
            params={"complaint_id": complaint_id},
        )
        items = answer.json()["items"]
        return items[0] if items else None

    found: dict[str, Any] = await p.until(probe, what=f"consultation of {complaint_id}")
    return found


async def _cases(p: Platform, complaint_id: str, unit: str, count: int = 1) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        answer = await p.call(
            "GET", "department", "/v1/cases", f"unit:{unit}", params={"complaint_id": complaint_id}
        )
        items = answer.json()["items"]
        return items if len(items) >= count else None

    found: list[dict[str, Any]] = await p.until(probe, what=f"cases of {unit}")
    return found


async def test_a_complaint_two_units_share_is_decided_jointly_and_both_get_their_cases(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    watcher = StreamWatcher(p, "dept-hj")
    watcher.start()
    try:
        await asyncio.sleep(1)  # the stream is open before the consultation exists
        filed = await p.file(
            {
                "channel": "phone",
                "kind": "complaint",
                "content": "会商测试：百草园门口夜市油烟熏人",
                "category_code": "ENV-SMOKE",
                "caller": {"phone": "13511112222"},
                "location": {"grid_code": "G01010102"},
            }
        )
        cid = filed["complaint_id"]
        await _status(p, cid, "consultation")
        talk = await _consultation(p, cid)
        assert talk["participants"] == ["dept-cg-d01", "dept-hj"] and talk["trigger"] == "tie"
        path = f"/v1/consultations/{talk['consultation_id']}"

        async def invited() -> bool:
            return watcher.consultations.get(talk["consultation_id"]) == ["open"]

        # The invited unit sees the consultation open on its stream before it answers (a
        # stream shows a row's state when it reads it: one decided before then shows once).
        await p.until(invited, what="the open consultation on dept-hj's stream", timeout=30)
        for unit, position in (("dept-cg-d01", "lead"), ("dept-hj", "co_handle")):
            answer = await p.call(
                "POST",
                "dispatch",
                f"{path}/positions",
                f"unit:{unit}",
                body={"position": position, "reason": "会商意见"},
            )
            assert answer.status_code == 201, answer.text
        # A unit not invited neither reads nor posts: the consultation does not exist for it.
        assert (await p.call("GET", "dispatch", path, "unit:dept-jt")).status_code == 404
        posted = await p.call(
            "POST",
            "dispatch",
            f"{path}/positions",
            "unit:dept-jt",
            body={"position": "lead", "reason": "我们来"},
        )
        assert posted.status_code == 404
        decided = await p.call(
            "POST",
            "dispatch",
            f"{path}/decision",
            "dispatcher",
            body={"lead_unit_id": "dept-cg-d01", "co_unit_ids": ["dept-hj"], "note": "按会商意见"},
        )
        assert decided.status_code == 200, decided.text
        lead = await p.case_of(cid, "dept-cg-d01", round_no=1)
        [co] = await _cases(p, cid, "dept-hj")
        assert lead["mode"] == co["mode"] == "consultation" and co["role"] == "co"
        shown = await _status(p, cid, "assigned")
        assert shown["lead_unit_id"] == "dept-cg-d01"

        async def streamed() -> bool:
            return watcher.consultations.get(talk["consultation_id"]) == ["open", "decided"]

        await p.until(streamed, what="the consultation on dept-hj's stream", timeout=30)
    finally:
        await watcher.stop()


async def test_a_consultation_due_while_dispatch_is_down_falls_back_once_on_restart(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    filed = await p.file_road_damage(
        "兜底测试：杏林路人行道塌了个坑", phone="13522223333", grid="G01010101"
    )
    cid = filed["complaint_id"]
    await p.case_of(cid, "dept-jt", round_no=1)
    opened = await p.call(
        "POST",
        "dispatch",
        "/v1/consultations",
        "dispatcher",
        body={
            "complaint_id": cid,
            "participants": ["dept-jt", "dept-cg-d01"],
            "reason": "权属不清，需会商",
            "deadline": (datetime.now(UTC) + timedelta(seconds=3)).isoformat(),
        },
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["round"] == 2
    proc = stack.processes["dispatch"]
    os.kill(proc.pid, signal.SIGKILL)  # no shutdown code runs
    proc.wait()
    await asyncio.sleep(5)  # the deadline passes while dispatch is down
    stack.start_service(SPEC["dispatch"])
    await asyncio.to_thread(wait_ready, stack.url_of(SPEC["dispatch"]), 90)

    path = f"/v1/consultations/{opened.json()['consultation_id']}"

    async def fallen_back() -> bool:
        shown = await p.call("GET", "dispatch", path, "dispatcher")
        return bool(shown.json()["status"] == "fallen_back")

    await p.until(fallen_back, what="the fallback after the restart")
    case = await p.case_of(cid, "gov-d01", round_no=2)
    assert case["mode"] == "consultation"
    await asyncio.sleep(3)  # the worker keeps looking: nothing more may happen
    shown = await p.complaint(cid)
    kinds = [t["event_type"] for t in shown["timeline"]]
    assert kinds.count("jiesu.consultation.decided.v1") == 1
    assert kinds.count("jiesu.complaint.assigned.v1") == 2  # round 1, and the fallback's round 2
    assert shown["lead_unit_id"] == "gov-d01" and shown["round"] == 2
    assert len(await _cases(p, cid, "gov-d01")) == 1


async def test_a_whistle_with_one_report_in_on_time_and_one_late_shows_in_metrics(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    period = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    before = await p.scorecard(period)
    filed = await p.file(
        {
            "channel": "phone",
            "kind": "complaint",
            "content": "吹哨测试：泉水路垃圾堆放点占道发臭",
            "category_code": "CITY-GARBAGE",
            "caller": {"phone": "13533334444"},
            "location": {"grid_code": "G01010201"},
        }
    )
    cid = filed["complaint_id"]
    street = await p.case_of(cid, "street-s0101", round_no=1)
    blown = await p.call(
        "POST",
        "department",
        f"/v1/cases/{street['case_id']}/whistle",
        "unit:street-s0101",
        body={
            "unit_ids": ["dept-sj-d01", "dept-jy-d01"],
            "ask": "请到现场联合处置",
            "report_by": (datetime.now(UTC) + timedelta(seconds=6)).isoformat(),
        },
    )
    assert blown.status_code == 202, blown.text
    [on_time] = await _cases(p, cid, "dept-sj-d01")
    reported = await p.call(
        "POST", "department", f"/v1/cases/{on_time['case_id']}/report-in", "unit:dept-sj-d01"
    )
    assert reported.status_code == 200, reported.text
    [late] = await _cases(p, cid, "dept-jy-d01")

    async def escalated() -> list[dict[str, Any]]:
        shown = await p.call("GET", "metrics", f"/v1/complaints/{cid}/sla", "supervisor")
        if shown.status_code == 404:
            return []  # metrics has not read the complaint's first events yet
        assert shown.status_code == 200, shown.text
        return [
            c
            for c in shown.json()["clocks"]
            if c["clock"] == "report_in" and c["level"] == "reminder"
        ]

    [breached] = await p.until(escalated, what="the late report-in's reminder", timeout=60)
    assert breached["unit_id"] == "dept-jy-d01"
    again = await p.call(
        "POST", "department", f"/v1/cases/{late['case_id']}/report-in", "unit:dept-jy-d01"
    )
    assert again.status_code == 200, again.text

    async def settled() -> dict[str, str] | None:
        shown = await p.call("GET", "metrics", f"/v1/complaints/{cid}/sla", "supervisor")
        states = {
            c["unit_id"]: c["state"] for c in shown.json()["clocks"] if c["clock"] == "report_in"
        }
        # Both stopped: one in time (met), one after its deadline (late).
        return states if set(states.values()) <= {"met", "late"} else None

    assert await p.until(settled, what="both report-ins stopped") == {
        "dept-jy-d01": "late",
        "dept-sj-d01": "met",
    }

    async def both_reported() -> list[str] | None:
        # Intake's timeline follows the broker on its own group, apart from metrics.
        kinds = [t["event_type"] for t in (await p.complaint(cid))["timeline"]]
        return kinds if kinds.count("jiesu.whistle.reported.v1") >= 2 else None

    timeline = await p.until(both_reported, what="both report-ins on the timeline", timeout=60)
    assert timeline.count("jiesu.whistle.reported.v1") == 2
    assert "jiesu.escalation.raised.v1" in timeline

    after = await p.scorecard(period)
    fields = ("report_ins_due", "report_in_on_time", "report_in_late", "breaches")

    def delta(unit: str) -> tuple[int, ...]:
        old = before.get(unit, {})
        return tuple(after[unit][f] - old.get(f, 0) for f in fields)

    assert delta("dept-sj-d01") == (1, 1, 0, 0)
    assert delta("dept-jy-d01") == (1, 0, 1, 1)
    assert (
        after["street-s0101"]["whistles_blown"]
        - before.get("street-s0101", {}).get("whistles_blown", 0)
        == 1
    )
