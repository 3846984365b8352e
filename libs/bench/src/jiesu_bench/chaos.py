"""Chaos during a run: kill -9 a process every N seconds, or stop and start the whole stack.

The supervisor (`jiesu dev`'s, or the bench's own stack's) starts whatever was killed
again. After each kill the platform is watched until it is whole again: every service
ready, consumer lag and pending outbox rows back to what they were before the first kill
(under a steady load a few events are always in flight; with no load that is zero), and
no complaint of the run stuck (open, with nothing seen to happen to it for ``stuck_s``),
twice in a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from jiesu_bench.actors import TRANSPORT_ERRORS, Ledger, request
from jiesu_bench.observe import Sampler, Seen
from jiesu_bench.target import SERVICE_NAMES, Target

KINDS = (*SERVICE_NAMES, "broker", "postgres")
STACK = "stack"  # the stop-start variant: the whole stack, stopped cleanly


@dataclass
class Kill:
    """One kill (or stop-start) and how the platform took it."""

    kind: str
    at_s: float  # since the run began
    pid: int | None
    back_after_s: float | None = None  # the process (or the stack) is running again
    whole_after_s: float | None = None  # ready, no lag, outboxes empty, nothing stuck

    def as_dict(self) -> dict[str, Any]:
        """For the JSON report."""
        return asdict(self)


@dataclass
class ChaosPlan:
    """What to kill and how often."""

    kinds: Sequence[str] = KINDS
    every_s: float = 20.0
    warmup_s: float = 10.0
    stuck_s: float = 15.0
    whole_timeout_s: float = 180.0
    seed: int = 7


class Chaos:
    """Kills processes of ``target`` while the bench's load runs; records each recovery."""

    def __init__(
        self,
        target: Target,
        plan: ChaosPlan,
        *,
        ledger: Ledger,
        seen: Seen,
        sampler: Sampler,
    ) -> None:
        self._target, self._plan = target, plan
        self._ledger, self._seen, self._sampler = ledger, seen, sampler
        self.kills: list[Kill] = []
        self._rng = random.Random(plan.seed)
        self._origin = time.time()
        self.baseline = {"lag": 0, "outbox": 0}

    def schedule(self) -> list[str]:
        """Every kind once, in a shuffled order (more can follow at random)."""
        kinds = list(self._plan.kinds)
        self._rng.shuffle(kinds)
        return kinds

    async def run(self, on_progress: Callable[[str], None] = print) -> list[Kill]:
        """Carry out the schedule; returns every kill with its recovery times."""
        self._origin = time.time()
        await asyncio.sleep(self._plan.warmup_s)
        self.baseline = self._steady_backlog()
        on_progress(
            f"  chaos: before the first kill, lag ≤ {self.baseline['lag']} messages and "
            f"outboxes ≤ {self.baseline['outbox']} rows (90th percentile)"
        )
        for kind in self.schedule():
            kill = await self._strike(kind)
            self.kills.append(kill)
            on_progress(
                f"  chaos: {kind} {'stopped and started' if kind == STACK else 'killed'} at "
                f"{kill.at_s:.0f} s; back after {_s(kill.back_after_s)}, "
                f"whole after {_s(kill.whole_after_s)}"
            )
            rest = self._plan.every_s - (time.time() - self._origin - kill.at_s)
            if rest > 0:
                await asyncio.sleep(rest)
        return self.kills

    async def _strike(self, kind: str) -> Kill:
        started = time.time()
        kill = Kill(kind, round(started - self._origin, 1), None)
        if kind == STACK:
            stack = self._target.stack
            if stack is None:
                raise SystemExit("--stop-start needs the bench's own stack (drop --attach)")
            await asyncio.to_thread(stack.stop)
            await asyncio.to_thread(stack.start)
            stack.start_supervisor()
        else:
            pid = self._target.current_pids()[kind][0]
            kill.pid = pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            await self._until(lambda: self._replaced(kind, pid), self._plan.whole_timeout_s)
        kill.back_after_s = round(time.time() - started, 1)
        if await self._until(self._whole, self._plan.whole_timeout_s):
            kill.whole_after_s = round(time.time() - started, 1)
        return kill

    def _replaced(self, kind: str, old_pid: int) -> bool:
        pids = self._target.current_pids().get(kind) or []
        if not pids or pids[0] == old_pid:
            return False
        try:
            os.kill(pids[0], 0)
        except OSError:
            return False
        return True

    def _steady_backlog(self) -> dict[str, int]:
        warm = self._sampler.series[1:]
        if not warm:
            return {"lag": 0, "outbox": 0}
        out = {}
        for key in ("lag", "outbox"):
            values = sorted(sum(p[key].values()) for p in warm)
            out[key] = int(values[int(0.9 * (len(values) - 1))])
        return out

    async def _whole(self) -> bool:
        # Twice in a row, a second apart: one quiet sample under load can be luck.
        if not await self._whole_once():
            return False
        await asyncio.sleep(1.0)
        return await self._whole_once()

    async def _whole_once(self) -> bool:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as client:
            for url in self._target.urls.values():
                try:
                    answer = await request(client, "GET", f"{url}/readyz", headers={})
                except TRANSPORT_ERRORS:
                    return False
                if answer.status_code != 200:
                    return False
        point = await self._sampler.sample(time.time() - self._origin)
        if not point["lag"] or len(point["outbox"]) < len(SERVICE_NAMES):
            return False  # the broker or a database did not answer
        if sum(point["lag"].values()) > self.baseline["lag"]:
            return False
        if sum(point["outbox"].values()) > self.baseline["outbox"]:
            return False
        return not self.stuck()

    def stuck(self) -> list[str]:
        """Complaints of the run that are open and saw nothing happen for ``stuck_s``."""
        now = time.time()
        limit = self._plan.stuck_s
        return [
            cid
            for cid, filed in self._ledger.filed.items()
            if cid not in self._seen.closed
            and now - max(filed.answered, self._ledger.last_progress.get(cid, 0.0)) > limit
        ]

    async def _until(self, check: Callable[[], Any], timeout_s: float) -> bool:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            with contextlib.suppress(Exception):
                result = check()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return True
            await asyncio.sleep(0.5)
        return False


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"
