"""The images' entrypoint: ``python -m jiesu_common.container serve|worker|migrate|healthcheck``.

One Dockerfile builds every service's image; the image names its service in
``JIESU_SERVICE`` (set from the build argument ``SERVICE``) and this module hands the
command line to that service's own ``python -m jiesu_<service>``. In a container the service
listens beyond loopback unless its settings say otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import re
import runpy
import sys
import urllib.error
import urllib.request
from collections.abc import MutableMapping, Sequence

SERVICE_VARIABLE = "JIESU_SERVICE"


class ContainerError(Exception):
    """The image does not name a service this environment can run."""


def service_module(environ: MutableMapping[str, str]) -> str:
    """The module to run for the image's service, with its container defaults applied."""
    service = environ.get(SERVICE_VARIABLE, "")
    if not re.fullmatch(r"[a-z][a-z0-9]*", service):
        raise ContainerError(
            f"{SERVICE_VARIABLE} must name a service (e.g. intake), not {service!r}"
        )
    module = f"jiesu_{service}"
    if importlib.util.find_spec(module) is None:
        raise ContainerError(f"{SERVICE_VARIABLE}={service}: package {module} is not installed")
    # A container's port is published from outside; loopback alone would be unreachable.
    environ.setdefault(f"JIESU_{service.upper()}_HOST", "0.0.0.0")
    return module


def probe_health(host: str, port: int, *, timeout: float = 4.0) -> int:
    """0 when ``serve`` on this host answers ``/healthz`` with 200, else 1 (a container probe)."""
    target = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    if ":" in target:
        target = f"[{target}]"
    try:
        with urllib.request.urlopen(f"http://{target}:{port}/healthz", timeout=timeout) as resp:
            return 0 if resp.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the image's service with ``argv`` (default: the process's arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        module = service_module(os.environ)
    except ContainerError as exc:
        print(f"jiesu container: {exc}", file=sys.stderr)
        return 2
    sys.argv = [module, *args]
    # The service's own __main__ exits with its code (SystemExit passes straight through).
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
