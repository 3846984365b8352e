"""The README's walkthrough works exactly as written, against a running `jiesu dev` stack."""

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from jiesu_common.devstack import DevStack

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> str:
    """The bash block between the walkthrough markers."""
    text = README.read_text()
    block = text.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->", 1)[0]
    return block.strip().removeprefix("```bash").removesuffix("```")


async def test_the_readme_walkthrough_runs_as_written(stack: DevStack) -> None:
    script = walkthrough()
    assert "127.0.0.1:8005/v1/scorecards" in script
    # Only the ports move (the test stack runs on a free port range) and `jiesu` is this
    # environment's; every command is otherwise the README's own.
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
    out = result.stdout
    assert result.returncode == 0, f"stdout:\n{out}\nstderr:\n{result.stderr}"
    lines = out.splitlines()
    assert lines[0].startswith("assigned dept-jt {'name': '张*', 'phone': '138****5678'")
    assert "returned" in lines and "approved gov-d01" in lines
    assert "event: case" in lines and "13812345678" in lines
    assert lines.count("resolved") == 2 and "reopened" in lines and "closed" in lines
    assert any(line.startswith("closed 3 ['received', 'assigned', 'returned'") for line in lines)
    assert "(3, 'gov-d01', 'resolve', 'met')" in out
    # Other tests of the session add to the month's scorecard; this complaint's units are on it.
    assert "('dept-jt', " in lines[-1] and "('gov-d01', " in lines[-1]
