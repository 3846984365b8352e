"""The README's walkthrough works exactly as written, against a running `jiesu dev` stack."""

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from jiesu_common.devstack import DevStack

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough(name: str) -> str:
    """The bash block between a walkthrough's markers."""
    text = README.read_text()
    block = text.split(f"<!-- {name}:start -->", 1)[1].split(f"<!-- {name}:end -->", 1)[0]
    return block.strip().removeprefix("```bash").removesuffix("```")


async def run_as_written(stack: DevStack, script: str) -> list[str]:
    """Run a README block and return its output lines.

    Only the ports move (the test stack runs on a free port range) and `jiesu` is this
    environment's; every command is otherwise the README's own.
    """
    script = re.sub(
        r"127\.0\.0\.1:800(\d)", lambda m: f"127.0.0.1:{stack.port_base + int(m[1])}", script
    )
    jiesu = Path(sys.executable).parent / "jiesu"
    script = script.replace("uv run --quiet jiesu", str(jiesu))
    result = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=stack.root.parent,  # `jiesu token` reads .jiesu/dev/secrets.json from here
        capture_output=True,
        text=True,
        timeout=240,
        env=os.environ | {"PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout.splitlines()


async def test_the_readme_walkthrough_runs_as_written(stack: DevStack) -> None:
    script = walkthrough("walkthrough")
    assert "127.0.0.1:8005/v1/scorecards" in script
    lines = await run_as_written(stack, script)
    out = "\n".join(lines)
    assert lines[0].startswith("assigned dept-jt {'name': '张*', 'phone': '138****5678'")
    assert "returned" in lines and "approved gov-d01" in lines
    assert "event: case" in lines and "13812345678" in lines
    assert lines.count("resolved") == 2 and "reopened" in lines and "closed" in lines
    assert any(line.startswith("closed 3 ['received', 'assigned', 'returned'") for line in lines)
    assert "(3, 'gov-d01', 'resolve', 'met')" in out
    assert "consultation" in lines and "[(['dept-cg-d01', 'dept-hj'], 'open')]" in lines
    assert "{'dept-cg-d01': 'co_handle', 'dept-hj': 'lead'}" in lines and "404" in lines
    assert "decided dept-hj" in lines and "409 decided-by-consultation" in lines
    assert "dept-hj lead consultation" in lines and "dept-cg-d01 co consultation" in lines
    assert "['dept-cg-d01', 'dept-hj']" in lines and "accepted True" in lines
    assert "[('dept-cg-d01', 'running'), ('dept-hj', 'met')]" in lines
    # Pause, reply review and manual merge (issue 18).
    assert "pending" in lines and "granted" in lines and "ended" in lines
    assert "[('accept', 'met'), ('contact', 'paused'), ('resolve', 'paused')]" in lines
    assert "in_progress pending" in lines and "sent_back" in lines
    assert "approved" in lines and "resolved approved" in lines
    assert "merged" in lines and "closed True" in lines
    # Other tests of the session add to the month's scorecard; this complaint's units are on it.
    assert "('dept-jt', " in lines[-1] and "('gov-d01', " in lines[-1]


async def test_the_readme_open311_walkthrough_follows_a_request_to_closed(stack: DevStack) -> None:
    script = walkthrough("open311-walkthrough")
    assert "/open311/v2/requests.json" in script.replace("$O311", "/open311/v2")
    lines = await run_as_written(stack, script)
    assert lines.count("accepted") == 1 and "resolved" in lines and "closed" in lines
    assert int(lines[0].split()[0]) >= 30  # the services list: every category
    assert any(line.startswith("open ") for line in lines)
    assert "<status>closed</status>" in lines
    assert "<status>FIXED</status>" in lines
