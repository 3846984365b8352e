"""The platform as real processes on the embedded stack (what `jiesu dev` runs)."""

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from jiesu_common.devstack import DevStack, ServiceSpec

# Test-only: webhook retries within seconds, and a claim left by a killed department
# process is taken again after a few seconds (tests/e2e/test_webhooks.py).
WEBHOOK_TEST_ENV = {
    "WEBHOOKS__RETRY_BASE_S": "0.3",
    "WEBHOOKS__RETRY_FACTOR": "2",
    "WEBHOOKS__TIMEOUT_S": "3",
    "WEBHOOKS__LEASE_S": "5",
}


def webhook_test_env(spec: ServiceSpec) -> dict[str, str]:
    """Short webhook backoff and lease for department."""
    if spec.name != "department":
        return {}
    return {spec.env_prefix + key: value for key, value in WEBHOOK_TEST_ENV.items()}


def free_port_base() -> int:
    import socket

    for _ in range(50):
        base = random.randrange(20000, 60000, 10)
        try:
            for offset in range(1, 7):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port range")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    root: Path = tmp_path_factory.mktemp("jiesu") / ".jiesu"
    dev = DevStack(root, port_base=free_port_base(), extra_env=webhook_test_env)
    try:
        dev.start()
        yield dev
    finally:
        dev.stop()


@pytest.fixture(scope="session")
def tokens(stack: DevStack) -> dict[str, object]:
    return json.loads((stack.root / "dev" / "tokens.json").read_text())
