"""One benchmark run: raw limits, then load steps through all five steps, then reconciliation."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from jiesu_bench import raw
from jiesu_bench.actors import (
    Dispatcher,
    Filed,
    Ledger,
    QueueProbe,
    Reviewer,
    Units,
    bearer,
    call,
    request,
)
from jiesu_bench.chaos import Chaos, ChaosPlan
from jiesu_bench.observe import EventObserver, Sampler
from jiesu_bench.reconcile import dead_letters, reconcile
from jiesu_bench.stats import summarize, sustained_rate
from jiesu_bench.target import Target
from jiesu_bench.workload import FALLBACK_CATEGORIES, Arrival, category_mix, plans


async def city_grids(client: aiohttp.ClientSession, dispatch_url: str, token: str) -> list[str]:
    """The grid codes of the city the platform runs, from dispatch's public directory."""
    response = await request(client, "GET", f"{dispatch_url}/v1/places", headers=bearer(token))
    if response.status_code != 200:
        raise RuntimeError(f"dispatch's directory answered HTTP {response.status_code}")
    grids = [grid["code"] for grid in response.json()["grids"]]
    if not grids:
        raise RuntimeError("dispatch's directory has no grids to file complaints in")
    return grids


@dataclass
class Step:
    """A load step: a label and what arrives when (seconds from the step's start)."""

    label: str
    offered_rate: float | None
    arrivals: Sequence[Arrival] = ()
    closed_loop: tuple[int, float] | None = None  # (concurrency, seconds) in max mode


@dataclass
class Config:
    """How to run."""

    steps: list[Step]
    returns: float = 0.05
    reopens: float = 0.05
    raw_seconds: float = 3.0
    drain_s: float = 120.0
    max_in_flight: int = 2000
    # Complaints per second polled in their unit's queue: a sample (each polled every
    # 20 ms until listed), small enough that the probe is no real part of department's load.
    queue_probe_rate: float = 5.0
    connections: int = 200
    seed: int = 12345
    chaos: ChaosPlan | None = None
    chaos_tail_s: float = 10.0  # load goes on this long after the last kill
    until: str = "closed"  # or "assigned": filing and dispatch only, nobody acts on cases
    idle_s: float = 0.0  # after the load: measure the stack with the streams open, no load


@dataclass
class StepOutcome:
    """What one step measured."""

    label: str
    offered_rate: float | None
    complaints: list[str] = field(default_factory=list)
    sent: int = 0
    not_sent: int = 0
    answers: list[float] = field(default_factory=list)  # API latency, s from the due time
    answered_at: list[float] = field(default_factory=list)
    started: float = 0.0
    filing_done: float = 0.0
    drained: bool = False
    saturated: bool = False


class Run:
    """Wires the load generator, the simulated staff and the probes to one target."""

    def __init__(self, target: Target, config: Config) -> None:
        self.target, self.config = target, config
        self.ledger = Ledger()
        self.observer = EventObserver(target.bootstrap, until=config.until)
        self._grids: list[str] = []  # the city's grids, from dispatch's directory at the start
        self._tag = f"b{int(time.time()) % 10**6}"
        self._index = 0
        self._probe_every = 1.0
        self._last_probe = 0.0
        self._units: Units | None = None
        self._stop_filing = asyncio.Event()
        self.observer.on_event = self.ledger.progressed

    async def execute(self) -> dict[str, Any]:
        """Measure raw limits, run every step, reconcile; the whole result as one dict."""
        result: dict[str, Any] = {}
        if self.config.raw_seconds > 0:
            limits = await raw.measure(
                self.target.postgres_url, self.target.bootstrap, seconds=self.config.raw_seconds
            )
            result["raw"] = limits.as_dict()
        dead_before = await dead_letters(self.target.bootstrap)
        sampler = Sampler(
            bootstrap=self.target.bootstrap,
            databases=self.target.databases,
            pids=self.target.current_pids,
        )
        connector = aiohttp.TCPConnector(
            limit=self.config.connections,
            # Under uvicorn's 5 s keep-alive, so the client never reuses a closing socket.
            keepalive_timeout=2.0,
        )
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        ) as client:
            self._grids = await city_grids(
                client, self.target.urls["dispatch"], self.target.tokens["dispatcher"]
            )
            units = Units(
                client, self.target.urls["department"], self.target.tokens["units"], self.ledger
            )
            self._units = units
            probe = QueueProbe(
                client, self.target.urls["department"], self.target.tokens["units"], self.ledger
            )
            dispatcher = Dispatcher(
                client, self.target.urls["dispatch"], self.target.tokens["dispatcher"], self.ledger
            )
            reviewer = Reviewer(
                client, self.target.urls["review"], self.target.tokens["reviewer"], self.ledger
            )
            self.observer.on_first_assigned = lambda cid, lead: self._maybe_probe(probe, cid, lead)
            await self.observer.start()
            await units.start()
            if self.config.until == "closed":
                dispatcher.start()
                reviewer.start()
            await sampler.start()
            outcomes: list[StepOutcome] = []
            chaos_task = self._start_chaos(sampler, result)
            try:
                for step in self.config.steps:
                    print(f"· step {step.label} ...", flush=True)
                    outcome = await self._run_step(client, step)
                    outcomes.append(outcome)
                    brief = self._step_report(outcome)
                    cycle = brief["stages"]["full cycle"]
                    print(
                        f"  {brief['filed']:,} filed, {brief['closed']:,} closed"
                        f"{'' if outcome.drained else ' (not drained)'}; "
                        f"intake API p99 {brief['stages']['intake API']['p99'] or 0:,.0f} ms, "
                        f"full cycle p50 {cycle['p50'] or 0:,.0f} ms; "
                        f"sustained /s {brief['throughput']}",
                        flush=True,
                    )
                    offered = step.offered_rate
                    kept_up = offered is None or brief["throughput"]["intake API"] >= 0.8 * offered
                    if not outcome.drained or outcome.not_sent or not kept_up:
                        outcome.saturated = True
                        print("  saturated: no higher step", flush=True)
                        break  # higher rates would only pile up
                if chaos_task is not None:
                    await chaos_task
                result["settle_seconds"] = await self._settle(sampler)
                load_series = list(sampler.series)
                if self.config.idle_s > 0:
                    result["idle"] = await self._idle(sampler)
                sampler.series = load_series
            finally:
                if chaos_task is not None and not chaos_task.done():
                    chaos_task.cancel()
                await sampler.stop()
                await probe.stop()
                await dispatcher.stop()
                await reviewer.stop()
                await units.stop()
                await self.observer.stop()
        result["steps"] = [self._step_report(o) for o in outcomes]
        result["series"] = sampler.series
        result["processes"] = sampler.per_process(len(self.ledger.filed))
        result["errors"] = dict(self.ledger.errors)
        result["redelivered_messages"] = self.observer.seen.redelivered
        result["reconciliation"] = await reconcile(
            databases=self.target.databases,
            bootstrap=self.target.bootstrap,
            ledger=self.ledger,
            seen=self.observer.seen,
            dead_before=dead_before,
        )
        return result

    def _start_chaos(self, sampler: Sampler, result: dict[str, Any]) -> asyncio.Task[None] | None:
        plan = self.config.chaos
        if plan is None:
            return None
        chaos = Chaos(
            self.target, plan, ledger=self.ledger, seen=self.observer.seen, sampler=sampler
        )

        async def run() -> None:
            try:
                kills = await chaos.run()
                result["chaos"] = [k.as_dict() for k in kills]
                await asyncio.sleep(self.config.chaos_tail_s)
            finally:
                result.setdefault("chaos", [k.as_dict() for k in chaos.kills])
                self._stop_filing.set()

        return asyncio.create_task(run())

    async def _settle(self, sampler: Sampler, timeout_s: float = 120.0) -> float | None:
        """Wait until every consumer group has read everything and every outbox is empty.

        The run ends when the broker carries each complaint's ``complaint.closed``; the
        services' own views (intake's status, metrics' facts) follow a moment later. The
        reconciliation looks only once they have caught up (twice in a row, to be sure).
        """
        started = time.time()
        quiet = 0
        while time.time() - started < timeout_s:
            with contextlib.suppress(Exception):
                point = await sampler.sample(time.time() - started)
                idle = not any(point["lag"].values()) and not any(point["outbox"].values())
                quiet = quiet + 1 if idle and point["lag"] else 0
                if quiet >= 2:
                    return round(time.time() - started, 2)
            await asyncio.sleep(0.5)
        return None

    def _maybe_probe(self, probe: QueueProbe, complaint_id: str, lead: str) -> None:
        # A sample, so the probe's own polling stays a small part of the load.
        now = time.time()
        if complaint_id in self.ledger.filed and now - self._last_probe >= self._probe_every:
            self._last_probe = now
            probe.watch(complaint_id, lead)

    async def _run_step(self, client: aiohttp.ClientSession, step: Step) -> StepOutcome:
        outcome = StepOutcome(step.label, step.offered_rate)
        self._probe_every = 1.0 / self.config.queue_probe_rate
        count = len(step.arrivals) if step.closed_loop is None else 0
        stories = plans(
            count or 200_000,
            returns=self.config.returns,
            reopens=self.config.reopens,
            seed=self.config.seed + len(self.ledger.filed),
            until=self.config.until,
        )
        operator = self.target.tokens["operator"]
        tasks: set[asyncio.Task[None]] = set()
        outcome.started = time.time()
        if step.closed_loop is None:
            t0 = time.time() + 0.1
            for n, arrival in enumerate(step.arrivals):
                if self._stop_filing.is_set():
                    break
                due = t0 + arrival.at
                delay = due - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if len(tasks) >= self.config.max_in_flight:
                    outcome.not_sent += 1
                    continue
                task = asyncio.create_task(
                    self._file(client, operator, arrival.category_code, stories[n], due, outcome)
                )
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        else:
            concurrency, seconds = step.closed_loop
            stop_at = time.time() + seconds
            counter = iter(range(len(stories)))

            async def filer() -> None:
                while time.time() < stop_at:
                    n = next(counter)
                    category = FALLBACK_CATEGORIES[n % len(FALLBACK_CATEGORIES)]
                    await self._file(client, operator, category, stories[n], time.time(), outcome)

            await asyncio.gather(*(filer() for _ in range(concurrency)))
        if tasks:
            await asyncio.wait(tasks)
        outcome.filing_done = time.time()
        outcome.drained = await self._drain(outcome.complaints)
        return outcome

    async def _file(
        self,
        client: aiohttp.ClientSession,
        operator: str,
        category: str,
        plan: str,
        due: float,
        outcome: StepOutcome,
    ) -> None:
        self._index += 1
        n = self._index
        body = {
            "channel": "phone",
            "kind": "complaint",
            "content": f"[{self._tag}-{n}] 压力测试诉求 {category} 第{n}件",
            "category_code": category,
            "caller": {"phone": f"13{random.randrange(10**9):09d}"},
            "location": {"grid_code": self._grids[n % len(self._grids)]},
        }
        outcome.sent += 1
        headers = {"Idempotency-Key": f"{self._tag}-{n}"}
        url = f"{self.target.urls['intake']}/v1/complaints"
        while True:  # a killed intake comes back; the key makes the retry harmless
            response = await call(
                client,
                self.ledger,
                "file",
                "POST",
                url,
                token=operator,
                body=body,
                headers=headers,
                ok=(201,),
            )
            if response is None or response.status_code != 409:
                break
            self.ledger.errors["file: HTTP 409 in progress (retried)"] += 1
            await asyncio.sleep(0.2)
        now = time.time()
        outcome.answers.append(now - due)
        if response is None:
            return
        outcome.answered_at.append(now)
        cid = response.json()["complaint_id"]
        self.ledger.filed[cid] = Filed(n, plan, due, now, cid)
        outcome.complaints.append(cid)
        if self._units is not None:
            # Cases that reached a unit before this answer reached the bench (see Units).
            self._units.adopt(cid)

    async def _drain(self, complaints: list[str]) -> bool:
        deadline = time.time() + self.config.drain_s
        seen = self.observer.seen
        report_at = time.time() + 10
        until = self.config.until

        def done(cid: str) -> bool:
            return (cid, 1) in seen.assigned if until == "assigned" else cid in seen.closed

        while time.time() < deadline:
            left = sum(1 for c in complaints if not done(c))
            if not left:
                return True
            if time.time() >= report_at:
                print(f"  draining: {left:,} of {len(complaints):,} not {until} yet", flush=True)
                report_at += 10
            await asyncio.sleep(0.2)
        return False

    async def _idle(self, sampler: Sampler) -> dict[str, Any]:
        """The stack with the units' streams open and no load: CPU % of one core per process."""
        seconds = self.config.idle_s
        print(
            f"· idle: {seconds:g} s with {self._units.connected if self._units else 0} "
            "streams open, no load ...",
            flush=True,
        )
        sampler.series = []
        sampler.watch_backlog = False
        await asyncio.sleep(seconds)
        sampler.watch_backlog = True
        points = sampler.series[1:] or sampler.series
        names = sorted({n for p in points for n in p["cpu"]})
        cpu = {
            n: round(sum(p["cpu"].get(n, 0.0) for p in points) / max(1, len(points)), 1)
            for n in names
        }
        platform = round(sum(v for n, v in cpu.items() if n != "bench"), 1)
        return {
            "seconds": seconds,
            "streams": self._units.connected if self._units else 0,
            "cpu_pct": cpu,
            "platform_pct_of_one_core": platform,
        }

    def _step_report(self, o: StepOutcome) -> dict[str, Any]:
        seen, ledger = self.observer.seen, self.ledger
        filed = [ledger.filed[c] for c in o.complaints]
        assigned = [(f, seen.assigned.get((f.complaint_id or "", 1))) for f in filed]
        stages: dict[str, list[float]] = {
            "intake API": o.answers,
            "filing → assigned": [a - f.scheduled for f, a in assigned if a],
            "assigned → in queue": [
                ledger.in_queue[(f.complaint_id or "", 1)] - a
                for f, a in assigned
                if a and (f.complaint_id or "", 1) in ledger.in_queue
            ],
            "assigned → on SSE": [
                ledger.on_stream[(f.complaint_id or "", 1)] - a
                for f, a in assigned
                if a and (f.complaint_id or "", 1) in ledger.on_stream
            ],
            "resolved → review due": [
                ledger.review_seen[key] - t
                for key, t in ledger.resolved.items()
                if key[0] in o.complaints and key in ledger.review_seen
            ],
            "full cycle": [
                seen.closed[f.complaint_id or ""] - f.scheduled
                for f in filed
                if (f.complaint_id or "") in seen.closed
            ],
        }
        rates = {
            "intake API": sustained_rate(o.answered_at),
            "filing → assigned": sustained_rate([a for _, a in assigned if a]),
            "full cycle": sustained_rate(
                [seen.closed[c] for c in o.complaints if c in seen.closed]
            ),
        }
        return {
            "label": o.label,
            "offered_rate": o.offered_rate,
            "sent": o.sent,
            "not_sent": o.not_sent,
            "filed": len(o.complaints),
            "closed": sum(1 for c in o.complaints if c in seen.closed),
            "drained": o.drained,
            "saturated": o.saturated,
            "filing_seconds": round(o.filing_done - o.started, 2),
            "stages": {name: summarize(v).as_dict() for name, v in stages.items()},
            "throughput": {k: round(v, 1) for k, v in rates.items()},
        }


async def run(target: Target, config: Config) -> dict[str, Any]:
    """Run and return the result (the caller writes and prints it)."""
    bench = Run(target, config)
    result = await bench.execute()
    result["categories"] = category_mix(a for s in config.steps for a in s.arrivals)
    with contextlib.suppress(Exception):
        result["machine"] = machine()
    return result


def machine() -> dict[str, Any]:
    """What the run ran on."""
    import os
    import platform

    import psutil

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
