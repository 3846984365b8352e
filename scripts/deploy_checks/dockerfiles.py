"""The services' Dockerfiles: one per service, following the shared pattern."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from deploy_checks.core import Report, Service
from deploy_checks.settings_env import check_env


def check_dockerfiles(root: Path, services: Mapping[str, Service], report: Report) -> None:
    """One Dockerfile per service, following the shared pattern; none for a non-service."""
    for dockerfile in sorted((root / "services").glob("*/Dockerfile")):
        if dockerfile.parent.name not in services:
            report.add(dockerfile, "names a service that does not exist (no pyproject.toml)")
    for service in services.values():
        path = root / "services" / service.name / "Dockerfile"
        if not path.is_file():
            report.add(path, f"missing: every service needs a Dockerfile ({service.name})")
            continue
        _check_dockerfile(path, service, services, report)


def _check_dockerfile(
    path: Path, service: Service, services: Mapping[str, Service], report: Report
) -> None:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    port = service.default("port")
    expected = {
        f"uv sync --frozen --no-dev --package {service.package}": "installs its package",
        f'ENTRYPOINT ["python", "-m", "{service.module}"]': "runs its module",
        f"EXPOSE {port}": "exposes its port",
        f"{service.prefix}HOST=0.0.0.0": "listens beyond loopback",
        "HEALTHCHECK ": "has a HEALTHCHECK",
    }
    for needle, what in expected.items():
        if needle not in text:
            report.add(path, f"must contain {needle!r} ({what})")
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    if not users or not re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]):
        report.add(path, "must end on a numeric non-root USER (runAsNonRoot can check it)")
    env: dict[str, str | None] = {}
    for ln in lines:
        if ln.startswith("ENV "):
            env.update(dict(pair.split("=", 1) for pair in ln[4:].split() if "=" in pair))
    check_env(report, path, env, service, services)
