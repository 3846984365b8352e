"""`jiesu bench` (and `scripts/bench`): run the benchmark and write table, JSON and PNG.

jiesu bench                                   # step series 50 → 2,000/s on a fresh embedded stack
jiesu bench --rates 100,200 --step-seconds 20
jiesu bench --max --concurrency 64 --seconds 30
jiesu bench --replay ../shared/data/us311/replay.csv --speedup 2000 --limit 20000
jiesu bench --attach                          # against a running `jiesu dev`
jiesu bench --smoke                           # a few seconds, reconciliation included (CI)
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from jiesu_bench.chaos import KINDS, STACK, ChaosPlan
from jiesu_bench.report import table, targets, write_chart, write_json
from jiesu_bench.run import Config, Step, machine, run
from jiesu_bench.target import attach, embedded
from jiesu_bench.workload import open_loop, rate_steps, replay
from jiesu_common.logging import RepeatLimiter

DEFAULT_RATES = "5,10,20,50,100,200,500,1000,2000"


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="jiesu bench",
        description="压力测试 / benchmark: the five steps under load, against raw limits",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--rates", default=DEFAULT_RATES, help="open-loop step series, per second")
    mode.add_argument("--max", action="store_true", help="max-throughput mode (closed loop)")
    mode.add_argument("--replay", type=Path, help="CSV of real requests (created, category)")
    mode.add_argument("--smoke", action="store_true", help="a few seconds, for CI")
    mode.add_argument(
        "--chaos",
        action="store_true",
        help="kill -9 a process every --chaos-every s during an open-loop run, then reconcile",
    )
    mode.add_argument(
        "--stop-start",
        action="store_true",
        help="stop the whole stack cleanly mid-load and start it again (not fresh)",
    )
    p.add_argument("--step-seconds", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=64, help="filers in --max mode")
    p.add_argument("--seconds", type=float, default=30.0, help="duration of --max mode")
    p.add_argument("--speedup", type=float, default=1000.0, help="replay time compression")
    p.add_argument("--limit", type=int, help="replay at most this many requests")
    p.add_argument("--returns", type=float, default=0.05, help="fraction returned by the unit")
    p.add_argument("--reopens", type=float, default=0.05, help="fraction reopened at review")
    p.add_argument("--raw-seconds", type=float, default=3.0, help="per raw limit (0 skips)")
    p.add_argument("--drain-seconds", type=float, default=180.0)
    p.add_argument("--max-in-flight", type=int, default=2000)
    p.add_argument("--attach", action="store_true", help="use the running `jiesu dev`")
    p.add_argument("--data-dir", type=Path, default=Path(".jiesu"), help="of `jiesu dev`")
    p.add_argument("--bench-dir", type=Path, default=Path(".jiesu-bench"))
    p.add_argument("--port-base", type=int, default=8100)
    p.add_argument("--out", type=Path, default=Path("bench-results"))
    p.add_argument("--no-chart", action="store_true")
    p.add_argument(
        "--until",
        choices=("closed", "assigned"),
        default="closed",
        help="assigned: filing and dispatch only (no simulated staff act on cases)",
    )
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=30.0,
        help="after the load, measure the stack this long with the streams open (0 skips)",
    )
    p.add_argument("--chaos-rate", type=float, default=5.0, help="complaints/s during chaos")
    p.add_argument("--chaos-every", type=float, default=20.0, help="seconds between kills")
    p.add_argument("--chaos-warmup", type=float, default=10.0, help="load before the first kill")
    p.add_argument(
        "--chaos-kinds",
        default=",".join(KINDS),
        help="what to kill, each at least once: intake,dispatch,department,review,metrics,"
        "broker,postgres",
    )
    return p


def config_from(args: argparse.Namespace) -> tuple[str, Config]:
    """The mode's name and its configuration."""
    common: dict[str, Any] = {
        "until": args.until,
        "idle_s": args.idle_seconds,
        "returns": args.returns,
        "reopens": args.reopens,
        "raw_seconds": args.raw_seconds,
        "drain_s": args.drain_seconds,
        "max_in_flight": args.max_in_flight,
    }
    if args.smoke:
        common.update(
            raw_seconds=min(args.raw_seconds, 0.5), drain_s=min(args.drain_seconds, 90), idle_s=0.0
        )
        steps = [Step("smoke 20/s", 20.0, open_loop(20.0, 3.0))]
        return "smoke", Config(steps=steps, **{**common, "returns": 0.1, "reopens": 0.1})
    if args.chaos or args.stop_start:
        kinds = [STACK] if args.stop_start else [k for k in args.chaos_kinds.split(",") if k]
        unknown = sorted(set(kinds) - {*KINDS, STACK})
        if unknown:
            raise SystemExit(f"unknown --chaos-kinds: {', '.join(unknown)}")
        plan = ChaosPlan(kinds=kinds, every_s=args.chaos_every, warmup_s=args.chaos_warmup)
        # Load until the last kill has healed (the run stops filing then), with room to spare.
        horizon = plan.warmup_s + len(kinds) * (plan.every_s + plan.whole_timeout_s) + 60
        rate = args.chaos_rate
        label = f"{'stop-start' if args.stop_start else 'chaos'} {rate:g}/s"
        steps = [Step(label, rate, open_loop(rate, horizon))]
        common.update(raw_seconds=0.0, idle_s=0.0)
        mode = "stop-start" if args.stop_start else "chaos"
        return mode, Config(steps=steps, chaos=plan, **common)
    if args.max:
        steps = [Step(f"max ×{args.concurrency}", None, (), (args.concurrency, args.seconds))]
        return "max", Config(steps=steps, **common)
    if args.replay:
        arrivals = replay(args.replay, speedup=args.speedup, limit=args.limit)
        span = arrivals[-1].at if arrivals else 0.0
        rate = len(arrivals) / span if span else None
        label = f"replay ×{args.speedup:g} ({len(arrivals):,} in {span:.0f} s)"
        return "replay", Config(steps=[Step(label, rate, arrivals)], **common)
    steps = [
        Step(f"{rate:g}/s", rate, open_loop(rate, args.step_seconds))
        for rate in rate_steps(args.rates)
    ]
    return "open-loop", Config(steps=steps, **common)


def main(argv: list[str] | None = None) -> int:
    """Run; exit 1 when the reconciliation finds anything lost or doubled."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatLimiter())  # a killed broker makes every client complain
    mode, config = config_from(args)
    if config.until == "assigned":
        mode += ", until assigned"
    # The load generator runs on libuv's loop, as the services do: it shares the machine's
    # cores with the platform, so what it spends is what the platform cannot.
    if args.attach:
        if args.stop_start:
            raise SystemExit("--stop-start stops the stack the bench started: drop --attach")
        result = uvloop.run(run(attach(args.data_dir), config))
    else:
        print(f"启动中 / starting a fresh embedded stack in {args.bench_dir} ...", flush=True)
        supervise = config.chaos is not None
        with embedded(args.bench_dir, port_base=args.port_base, supervise=supervise) as target:
            target.extra_pids["bench"] = [os.getpid()]
            result = uvloop.run(run(target, config))
    stamp = datetime.now(UTC)
    result["meta"] = {
        "date": stamp.isoformat(timespec="seconds"),
        "commit": _commit(),
        "mode": mode,
        "argv": argv if argv is not None else sys.argv[1:],
    }
    result.setdefault("machine", machine())
    result["targets"] = [] if config.chaos is not None else targets(result)
    print(table(result), flush=True)
    name = f"bench-{stamp.strftime('%Y%m%dT%H%M%SZ')}-{mode}"
    write_json(result, args.out / f"{name}.json")
    print(f"\nJSON: {args.out / (name + '.json')}")
    if not args.no_chart:
        write_chart(result, args.out / f"{name}.png")
        print(f"PNG:  {args.out / (name + '.png')}")
    return 0 if result["reconciliation"]["ok"] else 1


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True)
        return head + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
