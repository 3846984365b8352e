"""End to end: 100 complaints through all five steps, each service SIGKILLed once on the way.

Twelve complaints are returned by their lead unit and re-dispatched to another unit;
twelve are reopened by the review and handled again. At the end every complaint is
closed, every table holds exactly what the test did (nothing lost, nothing twice), and
the scorecard's counts and rates match the ones the test computes from its own actions.
"""

import asyncio
import os
import signal
import statistics
import time
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from jiesu_common.devstack import SERVICES, DevStack
from tests.e2e.complaints import plan
from tests.e2e.workflow import Platform, StreamWatcher

SPEC = {s.name: s for s in SERVICES}
COUNT_FIELDS = (
    "reviewed",
    "contacted",
    "resolved",
    "satisfied",
    "reopened",
    "assigned",
    "returned",
    "returns_approved",
    "accept_on_time",
    "accept_late",
    "contact_on_time",
    "resolve_on_time",
    "resolve_late",
    "breaches",
)


def kill(stack: DevStack, name: str) -> None:
    """SIGKILL a service: no shutdown code runs."""
    proc = stack.processes[name]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def answers_for(n: int, first_review_of_reopened: bool) -> dict[str, Any]:
    """The resident's answers: varied, and unhappy for the complaints to be reopened."""
    if first_review_of_reopened:
        return {"contacted": n % 2 == 0, "resolved": n % 3 != 0, "satisfaction": "dissatisfied"}
    satisfaction = "basically_satisfied" if n % 4 == 1 else "satisfied"
    return {"contacted": n % 9 != 4, "resolved": True, "satisfaction": satisfaction}


class Ledger:
    """What the test did, counted per unit the way the scorecard should count it."""

    def __init__(self) -> None:
        self.units: dict[str, Counter[str]] = defaultdict(Counter)

    def assigned(self, unit: str) -> None:
        self.units[unit]["assigned"] += 1

    def returned(self, unit: str) -> None:
        self.units[unit].update(returned=1, returns_approved=1)

    def handled(self, unit: str) -> None:
        self.units[unit].update(accept_on_time=1, contact_on_time=1, resolve_on_time=1)

    def reviewed(self, unit: str, a: dict[str, Any]) -> None:
        unhappy = not a["resolved"] or a["satisfaction"] == "dissatisfied"
        self.units[unit].update(
            reviewed=1,
            contacted=int(a["contacted"]),
            resolved=int(a["resolved"]),
            satisfied=int(a["satisfaction"] != "dissatisfied"),
            reopened=int(unhappy),
        )


async def test_hundred_complaints_through_five_steps_survive_a_kill_of_every_service(
    stack: DevStack, tokens: dict[str, Any]
) -> None:
    p = Platform(stack, tokens)
    period = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    before = await p.scorecard(period)
    ledger = Ledger()

    chosen = [(b, lead) for b, lead in plan(400, coordinates=False) if lead][:100]
    assert len(chosen) == 100
    for n, (body, _) in enumerate(chosen):
        body["caller"] = {"phone": f"135{n:08d}", "name": f"居民{n}"}
        body["content"] = "全流程" + body["content"]
    leads = [lead for _, lead in chosen]
    returning = [n for n in range(100) if not leads[n].startswith("gov-")][:12]
    reopening = [n for n in range(100) if n not in returning][:12]
    watchers = {u: StreamWatcher(p, u) for u in set(leads)}
    for w in watchers.values():
        w.start()
    await asyncio.sleep(1.0)

    # Steps 1–3, with intake killed while filings are in flight.
    filed_at: dict[int, float] = {}
    ids: dict[int, str] = {}
    visible_at: dict[int, float] = {}
    cases: dict[int, dict[str, Any]] = {}
    first_case: dict[int, str] = {}
    gate = asyncio.Semaphore(10)

    async def file_and_find(n: int) -> None:
        async with gate:
            filed_at[n] = time.monotonic()
            ids[n] = (await p.file(chosen[n][0]))["complaint_id"]
            cases[n] = await p.case_of(ids[n], leads[n], round_no=1)
            visible_at[n] = time.monotonic()
            first_case[n] = cases[n]["case_id"]
        ledger.assigned(leads[n])

    await asyncio.gather(*(file_and_find(n) for n in range(50)))
    second_half = asyncio.gather(*(file_and_find(n) for n in range(50, 100)))
    await asyncio.sleep(0.3)
    kill(stack, "intake")
    stack.start_service(SPEC["intake"])
    await second_half
    assert len(set(ids.values())) == 100

    # metrics goes down now and stays down while units work: it must catch up later.
    kill(stack, "metrics")

    # Step 4 loop back: returns, decided with dispatch killed half-way.
    for n in returning:
        await p.act(
            cases[n], "return", {"reason": "经核实不属于本单位职责", "evidence": "职责清单第3条"}
        )
        ledger.returned(leads[n])
    pending = [await p.pending_return(cases[n]["case_id"]) for n in returning]
    for k, ret in enumerate(pending):
        if k == 6:
            kill(stack, "dispatch")
            stack.start_service(SPEC["dispatch"])
        await p.decide_return(ret["return_id"], "approve")
    for n in returning:
        shown = await p.until(
            lambda n=n: _round_lead(p, ids[n], 2), what=f"re-dispatch of {ids[n]}", timeout=180
        )
        assert shown != leads[n], "a returned complaint went back to the unit that returned it"
        cases[n] = await p.case_of(ids[n], shown, round_no=2)
        ledger.assigned(shown)

    # Step 4: every current lead case is signed for, contacted and replied to;
    # department is killed while that goes on.
    async def handle(n: int) -> None:
        async with gate:
            await p.handle(cases[n], f"已处理第{n}号诉求")
        ledger.handled(cases[n]["unit_id"])

    handling = asyncio.gather(*(handle(n) for n in range(100)))
    await asyncio.sleep(1.0)
    kill(stack, "department")
    stack.start_service(SPEC["department"])
    await handling
    stack.start_service(SPEC["metrics"])

    # Step 5: reviews, with callback-review killed half-way; twelve are reopened.
    async def review(n: int, round_no: int, unhappy: bool) -> None:
        async with gate:
            shown = await p.review_of(ids[n], round_no)
            answers = answers_for(n, unhappy)
            await p.complete_review(shown["review_id"], answers)
        ledger.reviewed(cases[n]["unit_id"], answers)

    rounds = {n: (2 if n in returning else 1) for n in range(100)}
    first = [review(n, rounds[n], n in reopening) for n in range(100)]
    await asyncio.gather(*first[:50])
    reviewing = asyncio.gather(*first[50:])
    await asyncio.sleep(0.5)
    kill(stack, "review")
    stack.start_service(SPEC["review"])
    await reviewing

    # Reopened complaints come back to the same lead unit in a new round.
    for n in reopening:
        again = await p.case_of(ids[n], leads[n], round_no=2)
        ledger.assigned(leads[n])
        cases[n] = again
        await p.handle(again, "重新处理完毕")
        ledger.handled(leads[n])
        shown = await p.review_of(ids[n], 2)
        answers = answers_for(n, False)
        await p.complete_review(shown["review_id"], answers)
        ledger.reviewed(leads[n], answers)

    async def closed(n: int) -> bool:
        return (await p.complaint(ids[n]))["status"] == "closed"

    for n in range(100):
        await p.until(lambda n=n: closed(n), what=f"{ids[n]} closed", timeout=120)
    for w in watchers.values():
        await w.stop()

    await _check_final_state(stack, p, ids, returning, reopening, leads)
    await _check_scorecard(p, period, before, ledger)
    await _report(p, ids, filed_at, visible_at, first_case, watchers)
    # Every round-1 case reached its unit's stream, across the department's kill.
    seen = {c for w in watchers.values() for c in w.first_seen}
    assert set(first_case.values()) <= seen


async def _round_lead(p: Platform, complaint_id: str, round_no: int) -> str | None:
    shown = await p.complaint(complaint_id)
    return shown["lead_unit_id"] if shown["round"] >= round_no else None


async def _check_final_state(
    stack: DevStack,
    p: Platform,
    ids: dict[int, str],
    returning: list[int],
    reopening: list[int],
    leads: list[str],
) -> None:
    """Every service's own records hold each thing exactly once."""
    wanted = list(ids.values())
    want_rounds = {ids[n]: 2 if n in returning or n in reopening else 1 for n in ids}

    async def query(service: str, sql: str) -> list[Any]:
        conn = await asyncpg.connect(
            stack.postgres.url_for(f"jiesu_{service}").replace("+asyncpg", "")
        )
        try:
            return list(await conn.fetch(sql, wanted))
        finally:
            await conn.close()

    rows = await query(
        "dispatch",
        "SELECT complaint_id::text AS c, round, lead_unit_id FROM assignments "
        "WHERE complaint_id::text = ANY($1) ORDER BY round",
    )
    by_complaint: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by_complaint[r["c"]].append(r["lead_unit_id"])
    assert {c: len(v) for c, v in by_complaint.items()} == want_rounds
    for n in returning:
        assert by_complaint[ids[n]][0] == leads[n] != by_complaint[ids[n]][1]
    for n in reopening:
        assert by_complaint[ids[n]] == [leads[n], leads[n]]

    cases = await query(
        "department",
        "SELECT complaint_id::text AS c, round, status FROM cases "
        "WHERE role = 'lead' AND complaint_id::text = ANY($1)",
    )
    assert Counter(r["c"] for r in cases) == Counter(want_rounds)
    statuses = Counter(r["status"] for r in cases)
    assert statuses == {"resolved": 100 + len(reopening), "returned": len(returning)}

    reviews = await query(
        "review",
        "SELECT complaint_id::text AS c, status, outcome FROM reviews WHERE complaint_id::text = ANY($1)",
    )
    assert Counter(r["outcome"] for r in reviews) == {"closed": 100, "reopened": len(reopening)}
    assert {r["status"] for r in reviews} == {"completed"}

    async def review_facts() -> int | None:
        [row] = await query(
            "metrics", "SELECT count(*) AS n FROM review_facts WHERE complaint_id::text = ANY($1)"
        )
        return int(row["n"]) if row["n"] >= 100 + len(reopening) else None

    # Metrics' projection follows the broker, not the review: wait until it has read them
    # all, then it holds each exactly once.
    counted = await p.until(review_facts, what="metrics' review facts", timeout=60)
    assert counted == 100 + len(reopening)

    for cid in ids.values():
        shown = await p.complaint(cid)
        kinds = Counter((t["event_type"], t["round"]) for t in shown["timeline"])
        assert kinds[("jiesu.complaint.closed.v1", want_rounds[cid])] == 1, shown["timeline"]
        assigned = [k for k in kinds if k[0] == "jiesu.complaint.assigned.v1"]
        assert sorted(r for _, r in assigned) == list(range(1, want_rounds[cid] + 1))
        assert all(count == 1 for (kind, _), count in kinds.items() if "case.contacted" in kind)

    for service in ("intake", "dispatch", "department", "review", "metrics"):
        conn = await asyncpg.connect(
            stack.postgres.url_for(f"jiesu_{service}").replace("+asyncpg", "")
        )
        try:
            left = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        finally:
            await conn.close()
        assert left == 0, f"{service} still has {left} unpublished events"


async def _check_scorecard(
    p: Platform, period: str, before: dict[str, dict[str, Any]], ledger: Ledger
) -> None:
    """The scorecard moved by exactly what the test did (metrics catches up after its kill)."""

    async def delta() -> dict[str, dict[str, int]]:
        after = await p.scorecard(period)
        return {
            unit: {
                f: after.get(unit, {}).get(f, 0) - before.get(unit, {}).get(f, 0)
                for f in COUNT_FIELDS
            }
            for unit in set(after) | set(ledger.units)
        }

    expected = {
        unit: {f: ledger.units.get(unit, Counter()).get(f, 0) for f in COUNT_FIELDS}
        for unit in ledger.units
    }

    async def matches() -> bool:
        got = await delta()
        return all(got.get(u) == want for u, want in expected.items())

    try:
        await p.until(matches, what="scorecard to match", timeout=90)
    except AssertionError:
        got = await delta()
        diff = {u: (got.get(u), w) for u, w in expected.items() if got.get(u) != w}
        raise AssertionError(f"scorecard deltas differ (got, want): {diff}") from None
    after = await p.scorecard(period)
    for unit, counts in ledger.units.items():
        if before.get(unit, {}).get("reviewed", 0) or not counts["reviewed"]:
            continue
        row, reviewed = after[unit], counts["reviewed"]
        response = round(counts["contacted"] / reviewed, 4)
        resolution = round(counts["resolved"] / reviewed, 4)
        satisfaction = round(counts["satisfied"] / reviewed, 4)
        assert row["response_rate"] == response
        assert row["resolution_rate"] == resolution
        assert row["satisfaction_rate"] == satisfaction
        assert row["reopen_rate"] == round(counts["reopened"] / reviewed, 4)
        composite = 0.10 * response + 0.45 * resolution + 0.45 * satisfaction
        assert abs(row["composite"] - composite) < 1e-3
        assert row["on_time_resolve_rate"] == 1.0


async def _report(
    p: Platform,
    ids: dict[int, str],
    filed_at: dict[int, float],
    visible_at: dict[int, float],
    first_case: dict[int, str],
    watchers: dict[str, StreamWatcher],
) -> None:
    """Print the stage timings for the closing note (not asserted: this run kills services)."""

    def pct(values: list[float]) -> str:
        values = sorted(values)
        p95 = values[max(0, int(len(values) * 0.95) - 1)]
        return f"p50 {statistics.median(values):.0f} ms, p95 {p95:.0f} ms (n={len(values)})"

    seen = {case_id: at for w in watchers.values() for case_id, at in w.first_seen.items()}
    queue = [(visible_at[n] - filed_at[n]) * 1000 for n in visible_at]
    sse = [(seen[first_case[n]] - filed_at[n]) * 1000 for n in first_case if first_case[n] in seen]
    assigned, closed = [], []
    for cid in ids.values():
        shown = await p.complaint(cid)
        created = datetime.fromisoformat(shown["created_at"])
        for t in shown["timeline"]:
            at = (datetime.fromisoformat(t["at"]) - created).total_seconds() * 1000
            if t["event_type"] == "jiesu.complaint.assigned.v1" and t["round"] == 1:
                assigned.append(at)
            if t["event_type"] == "jiesu.complaint.closed.v1":
                closed.append(at)
    print(f"\nfiling → assigned: {pct(assigned)}")
    print(f"filing → in the unit's queue (polled): {pct(queue)}")
    print(f"filing → on the unit's SSE stream: {pct(sse)}")
    print(f"filing → closed (driver-paced, with kills): {pct(closed)}")
    print(
        f"SSE reconnects across the department kill: {sum(w.reconnects for w in watchers.values())}"
    )
