"""The one Dockerfile every service's image is built from (``--build-arg SERVICE=<name>``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from deploy_checks.core import Report, Service

# What the shared recipe must say so that any service's image comes out right.
EXPECTED = {
    "ARG SERVICE": "takes the service's name as a build argument",
    "COPY services/${SERVICE} services/${SERVICE}": "copies the service's sources",
    "uv sync --frozen --no-dev --package jiesu-${SERVICE}": "installs the service's package",
    "JIESU_SERVICE=${SERVICE}": "names the service for the entrypoint",
    'ENTRYPOINT ["python", "-m", "jiesu_common.container"]': "runs the named service",
    "EXPOSE ${PORT}": "exposes the port given at build time",
    '"jiesu_common.container", "healthcheck"': "has a HEALTHCHECK through the service's own port",
}


def check_dockerfiles(root: Path, services: Mapping[str, Service], report: Report) -> None:
    """The shared Dockerfile follows the pattern; no service keeps a Dockerfile of its own."""
    path = root / "Dockerfile"
    if not path.is_file():
        report.add(path, "missing: the one Dockerfile every service's image is built from")
    else:
        _check_shared_dockerfile(path, report)
    for stray in sorted((root / "services").glob("*/Dockerfile")):
        report.add(stray, "a service has no Dockerfile of its own: build it from ./Dockerfile")
    for service in services.values():
        if service.package != f"jiesu-{service.name}":
            report.add(
                root / "services" / service.name / "pyproject.toml",
                f"package must be named jiesu-{service.name} for the shared Dockerfile",
            )


def _check_shared_dockerfile(path: Path, report: Report) -> None:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    for needle, what in EXPECTED.items():
        if needle not in text:
            report.add(path, f"must contain {needle!r} ({what})")
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    if not users or not re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]):
        report.add(path, "must end on a numeric non-root USER (runAsNonRoot can check it)")
    settings_vars = sorted(
        key
        for ln in lines
        if ln.startswith("ENV ")
        for key, _, _ in (pair.partition("=") for pair in ln[4:].split())
        if key.startswith("JIESU_") and key != "JIESU_SERVICE"
    )
    if settings_vars:
        report.add(path, f"sets {', '.join(settings_vars)}: one image serves every service")
