"""The learning loop on the running platform: history imported and trained with the CLI,
a challenger shadowing live complaints, promotion and rollback through the API reaching
a second dispatch replica through the bus."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jiesu_common.devstack import SERVICES, DevStack, wait_ready
from tests.dispatch.learning_data import csv_text

pytestmark = pytest.mark.e2e
DISPATCH = next(s for s in SERVICES if s.name == "dispatch")
INTAKE = next(s for s in SERVICES if s.name == "intake")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def replica_b(stack: DevStack, tmp_path: Path) -> Iterator[str]:
    """A second dispatch process on the same database and broker (its own replica id)."""
    port = _free_port()
    env = {**stack.env_of(DISPATCH), "JIESU_DISPATCH_REPLICA_ID": "e2e-replica-b"}
    with (tmp_path / "dispatch-b.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jiesu_dispatch", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout=90)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _learn(stack: DevStack, *args: str) -> str:
    url = stack.env_of(DISPATCH)["JIESU_DISPATCH_DATABASE__URL"]
    done = subprocess.run(
        [sys.executable, "-m", "jiesu_dispatch.learning", "--database-url", url, *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.3)


async def test_promotion_and_rollback_reach_every_dispatch_replica(
    stack: DevStack, tokens: dict[str, Any], replica_b: str, tmp_path: Path
) -> None:
    history = tmp_path / "history.csv"
    history.write_text(csv_text(80), encoding="utf-8")
    cols = ["--csv", str(history), "--text-columns", "title,text", "--label-column", "label"]
    assert "80" in _learn(stack, "import", *cols, "--unit-column", "unit")
    _learn(stack, "train", "--kind", "category", "--folds", "2")
    _learn(stack, "train", "--kind", "category", "--folds", "2", "--param", "c=1.0")
    assert "跳过" in _learn(stack, "train", "--kind", "category", "--folds", "2")

    a, b = stack.url_of(DISPATCH), replica_b
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    async with httpx.AsyncClient(timeout=30, headers=admin) as client:

        async def served(url: str) -> dict[str, Any]:
            return dict((await client.get(f"{url}/v1/learning/served")).json())

        async def everywhere(**wanted: int | None) -> None:
            async def check() -> bool:
                views = [await served(url) for url in (a, b)]
                return all(all(v[k] == n for k, n in wanted.items()) for v in views)

            await _until(check)

        models = (await client.get(f"{a}/v1/learning/category/models")).json()["items"]
        newer, older = models[0]["version"], models[1]["version"]
        try:
            await everywhere(category_challenger=newer, category_champion=None)
            put = await client.put(
                f"{a}/v1/learning/category/aliases/champion", json={"version": older}
            )
            assert put.status_code == 200, put.text
            await everywhere(category_champion=older, category_challenger=newer)

            filed = await client.post(
                f"{stack.url_of(INTAKE)}/v1/complaints",
                json={
                    "channel": "phone",
                    "kind": "complaint",
                    "content": "晚上路灯不亮，一片漆黑，请尽快处理",
                    "caller": {"phone": "13800000016"},
                    "location": {"grid_code": "G01010101"},
                },
                headers={"Authorization": f"Bearer {tokens['operator']}"},
            )
            assert filed.status_code == 201, filed.text

            async def shadowed() -> bool:
                shadow = (await client.get(f"{b}/v1/learning/category/shadow")).json()
                return bool(shadow["seen"] >= 1 and shadow["agreement"] is not None)

            await _until(shadowed)

            await client.put(f"{a}/v1/learning/category/aliases/champion", json={"version": newer})
            await everywhere(category_champion=newer, category_challenger=None)
            back = await client.post(f"{b}/v1/learning/category/aliases/champion/rollback", json={})
            assert back.status_code == 200 and back.json()["version"] == older
            await everywhere(category_champion=older)
        finally:
            # The rest of the session routes with the keyword classifier again.
            for alias in ("champion", "challenger"):
                await client.delete(f"{a}/v1/learning/category/aliases/{alias}")
            await everywhere(category_champion=None, category_challenger=None)
