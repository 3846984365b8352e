"""The run as a table on stdout, a JSON file and a PNG chart; figures against the targets."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

STAGES = (
    "intake API",
    "filing → assigned",
    "assigned → in queue",
    "assigned → on SSE",
    "resolved → review due",
    "full cycle",
)
RSS_LIMIT_MB = 200.0


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _best(steps: list[dict[str, Any]], stage: str) -> float:
    return max((s["throughput"].get(stage, 0.0) for s in steps), default=0.0)


def _at_rate(steps: list[dict[str, Any]], rate: float) -> dict[str, Any] | None:
    return next((s for s in steps if s["offered_rate"] == rate), None)


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the efficiency issue, the figure measured for it, and whether it is met.

    Which targets a run can speak to depends on its mode: CPU per complaint and throughput
    of filing → assigned come from ``--until assigned`` runs, the five-step figures from
    the default mode; the idle figure from either.
    """
    steps = result.get("steps", [])
    until_assigned = "until assigned" in str(result.get("meta", {}).get("mode", ""))
    out: list[dict[str, Any]] = []

    def add(name: str, measured: float | None, goal: str, met: bool | None) -> None:
        out.append({"target": name, "measured": measured, "goal": goal, "met": met})

    top = max((s["offered_rate"] or 0.0 for s in steps), default=0.0)
    stopped = bool(steps) and steps[-1].get("saturated", False)

    def missed_below(rate: float) -> bool | None:
        return False if stopped and top < rate else None

    platform = {
        k: v for k, v in result.get("processes", {}).items() if k not in ("bench", "console")
    }
    cpu = sum(v.get("cpu_ms_per_complaint", 0.0) for v in platform.values()) or None
    if until_assigned:
        add(
            "CPU-ms per complaint filed and assigned", cpu, "≤ 6", None if cpu is None else cpu <= 6
        )
        best = _best(steps, "filing → assigned")
        add("filing → assigned sustained (/s)", best, "≥ 300", best >= 300)
        s100 = _at_rate(steps, 100)
        p99 = s100["stages"]["filing → assigned"]["p99"] if s100 and not s100["saturated"] else None
        add(
            "filing → assigned p99 at 100/s (ms)",
            p99,
            "< 100",
            missed_below(100) if p99 is None and not s100 else (p99 is not None and p99 < 100),
        )
    else:
        add("CPU-ms per closed complaint", cpu, "≤ 25", None if cpu is None else cpu <= 25)
        best = _best(steps, "full cycle")
        add("all five steps sustained (/s)", best, "≥ 60", best >= 60)
        s50 = _at_rate(steps, 50)
        p99 = s50["stages"]["intake API"]["p99"] if s50 else None
        add(
            "intake API p99 at 50/s, five steps (ms)",
            p99,
            "< 50",
            missed_below(50) if p99 is None else p99 < 50,
        )
    idle = result.get("idle")
    if idle:
        idle_pct = idle["platform_pct_of_one_core"] - idle["cpu_pct"].get("bench", 0.0)
        add(
            f"idle, {idle['streams']} SSE streams open (% of one core)",
            idle_pct,
            "≤ 10",
            idle_pct <= 10,
        )
    services = {k: v for k, v in platform.items() if k not in ("postgres", "broker")}
    if services:
        peak = max(v["rss_peak_mb"] for v in services.values())
        add("largest service RSS (MB)", peak, "< 200", peak < RSS_LIMIT_MB)
        growth = max(v["rss_last_mb"] - v["rss_first_mb"] for v in services.values())
        add("largest RSS growth over the run (MB)", growth, "≈ 0 (soak)", None)
    return out


def table(result: dict[str, Any]) -> str:
    """The human-readable summary."""
    lines: list[str] = []
    meta = result.get("meta", {})
    lines.append(
        f"Jiesu bench — {meta.get('date', '')}  commit {meta.get('commit', '?')}  "
        f"mode {meta.get('mode', '?')}"
    )
    machine = result.get("machine", {})
    if machine:
        lines.append(
            f"machine: {machine.get('cpus')} CPU ({machine.get('cpu_model')}), "
            f"{machine.get('memory_gib')} GiB, Python {machine.get('python')}"
        )
    raw = result.get("raw")
    if raw:
        lines.append("")
        lines.append(
            "raw limits (same PostgreSQL and broker, plain asyncpg / aiokafka), per second:"
        )
        lines.append(
            f"  row commit {_fmt(raw['row_commit'])}   row+outbox commit "
            f"{_fmt(raw['row_outbox_commit'])}   produce {_fmt(raw['produce'])}   consume "
            f"{_fmt(raw['consume'])}   minimal pipeline {_fmt(raw['pipeline'])}"
        )
    for step in result.get("steps", []):
        lines.append("")
        not_sent = (
            f", {step['not_sent']:,} not sent (too many in flight)" if step["not_sent"] else ""
        )
        drained = "" if step["drained"] else " (NOT drained: saturated)"
        lines.append(
            f"step {step['label']}: {step['filed']:,} filed, {step['closed']:,} closed"
            f"{drained}{not_sent}"
        )
        lines.append(
            f"  {'stage':24} {'n':>7} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9}"
        )
        for stage in STAGES:
            s = step["stages"].get(stage)
            if not s:
                continue
            lines.append(
                f"  {stage:24} {s['count']:>7,} {_fmt(s['p50']):>9} {_fmt(s['p95']):>9} "
                f"{_fmt(s['p99']):>9} {_fmt(s['max']):>9}"
            )
        tp = step["throughput"]
        ratio = ""
        if raw and raw.get("pipeline"):
            share = tp["filing → assigned"] / raw["pipeline"]
            ratio = f"  (assigned = {share:.1%} of the minimal pipeline)"
        lines.append(
            "  sustained /s: " + "   ".join(f"{k} {_fmt(v, 1)}" for k, v in tp.items()) + ratio
        )
    procs = result.get("processes", {})
    if procs:
        lines.append("")
        lines.append(
            f"  {'process':12} {'CPU mean %':>11} {'CPU peak %':>11} {'CPU ms/complaint':>17} "
            f"{'RSS peak MB':>12} {'RSS growth':>11}"
        )
        for name, p in procs.items():
            lines.append(
                f"  {name:12} {p['cpu_mean_pct']:>11.1f} {p['cpu_peak_pct']:>11.1f} "
                f"{p.get('cpu_ms_per_complaint', 0.0):>17.1f} "
                f"{p['rss_peak_mb']:>12.1f} {p['rss_last_mb'] - p['rss_first_mb']:>+11.1f}"
            )
        total = sum(p.get("cpu_ms_per_complaint", 0.0) for p in procs.values())
        lines.append(f"  {'all':12} {'':>11} {'':>11} {total:>17.1f}")
    series = result.get("series", [])
    if series:
        peak_lag = max((sum(p["lag"].values()) for p in series), default=0)
        peak_outbox = max((sum(p["outbox"].values()) for p in series), default=0)
        lines.append(
            f"  peak consumer lag {peak_lag:,} messages; peak outbox backlog {peak_outbox:,} rows"
        )
    if result.get("errors"):
        lines.append("")
        lines.append("errors: " + ", ".join(f"{k} ×{v}" for k, v in result["errors"].items()))
    idle = result.get("idle")
    if idle:
        lines.append("")
        lines.append(
            f"idle, {idle['seconds']:g} s with {idle['streams']} SSE streams open and no load: "
            f"platform {idle['platform_pct_of_one_core']:.1f} % of one core ("
            + ", ".join(f"{k} {v:.1f}" for k, v in idle["cpu_pct"].items())
            + ")"
        )
    if result.get("chaos") is not None:
        lines.extend(_chaos_lines(result))
    rec = result.get("reconciliation", {})
    lines.append("")
    lines.append(
        f"reconciliation: {'OK' if rec.get('ok') else 'FAILED'} — {rec.get('complaints', 0):,} "
        f"complaints, final states {rec.get('final_states')}, plans {rec.get('plans')}, "
        f"rounds {rec.get('rounds')}, reviews {rec.get('reviews_completed')}"
    )
    for problem in rec.get("problems", []):
        lines.append(f"  ✗ {problem}")
    if result.get("targets"):
        lines.append("")
        lines.append("targets:")
        for t in result["targets"]:
            mark = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
            if t["met"] is False and t["measured"] is None:
                mark = "MISSED (saturated below that rate)"
            lines.append(
                f"  {t['target']:46} {_fmt(t['measured'], 1):>10}  goal {t['goal']:12} {mark}"
            )
    return "\n".join(lines)


def _chaos_lines(result: dict[str, Any]) -> list[str]:
    kills = result.get("chaos") or []
    lines = ["", "chaos: what was killed, when, and how long until the platform was whole again"]
    lines.append(
        f"  {'#':>2} {'killed':12} {'at s':>7} {'pid':>8} {'back after s':>13} "
        f"{'whole after s':>14}"
    )
    for n, k in enumerate(kills, 1):
        lines.append(
            f"  {n:>2} {k['kind']:12} {k['at_s']:>7.1f} {k['pid'] or '—':>8} "
            f"{_fmt(k['back_after_s'], 1):>13} {_fmt(k['whole_after_s'], 1):>14}"
        )
    lines.append(
        "  (whole: every service ready, consumer lag and pending outbox rows back to their "
        "level before the first kill, no complaint of the run without progress for 15 s)"
    )
    lines.append(
        f"  messages delivered again (same event id, dropped by the inboxes): "
        f"{result.get('redelivered_messages', 0):,}"
    )
    return lines


def write_json(result: dict[str, Any], path: Path) -> None:
    """The whole result, for later comparison."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))


def write_chart(result: dict[str, Any], path: Path) -> None:
    """Latency per step, throughput per step, and lag / outbox over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = result.get("steps", [])
    series = result.get("series", [])
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    labels = [s["label"] for s in steps]
    x = range(len(steps))
    for stage, style in (("intake API", "o-"), ("filing → assigned", "s-"), ("full cycle", "^-")):
        for q, alpha in (("p50", 1.0), ("p99", 0.5)):
            values = [s["stages"][stage][q] or float("nan") for s in steps]
            axes[0].plot(x, values, style, alpha=alpha, label=f"{stage} {q}")
    axes[0].set_yscale("log")
    axes[0].set_xticks(list(x), labels, rotation=30)
    axes[0].set_ylabel("ms")
    axes[0].set_title("latency per step")
    axes[0].legend(fontsize=7)
    for stage in ("intake API", "filing → assigned", "full cycle"):
        axes[1].plot(x, [s["throughput"][stage] for s in steps], "o-", label=stage)
    offered = [s["offered_rate"] or float("nan") for s in steps]
    axes[1].plot(x, offered, "k--", label="offered")
    axes[1].set_xticks(list(x), labels, rotation=30)
    axes[1].set_ylabel("complaints / s")
    axes[1].set_title("sustained throughput")
    axes[1].legend(fontsize=7)
    if series:
        t = [p["t"] for p in series]
        axes[2].plot(t, [sum(p["lag"].values()) for p in series], label="consumer lag (msgs)")
        axes[2].plot(t, [sum(p["outbox"].values()) for p in series], label="outbox rows")
        axes[2].set_xlabel("s")
        axes[2].set_title("backlog over time")
        axes[2].legend(fontsize=7)
    fig.suptitle(f"Jiesu bench {result.get('meta', {}).get('date', '')}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
