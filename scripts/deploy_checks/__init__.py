"""Offline checks of ``deploy/`` and the services' Dockerfiles: no cluster, no Docker engine.

- every Kubernetes manifest validates against the Kubernetes OpenAPI schemas (strict, from
  the ``kubernetes-validate`` package) or, for Strimzi and CloudNativePG resources, against
  their CRDs' schemas in ``deploy/schemas/`` (unknown fields rejected, as ``kubectl`` does);
- ``deploy/docker-compose.yml`` validates against the Compose specification's schema;
- every ``JIESU_<SERVICE>_...`` variable set by a Dockerfile, compose or Kubernetes (ConfigMap
  keys read through ``envFrom`` included) names a field of that service's settings class and
  holds a value it accepts;
- every service under ``services/`` has its Dockerfile, compose services, Kubernetes directory
  and Prometheus job, and nothing in ``deploy/`` names a service that does not exist;
- the declared topics are exactly those the services produce, consume and dead-letter to,
  with the partitions their settings name; Deployments have replicas, probes, resources and
  a non-root, read-only security context;
- compose (development mode) gives every service the one shared JWT secret, since a token
  minted by one service is verified by all; Kubernetes runs the production identity: every
  service in production mode trusting the one OpenID Connect issuer, no shared secret, and an
  OAuth client secret of its own for each service that calls another.

Run through ``scripts/check_deploy``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from deploy_checks.compose import check_compose
from deploy_checks.core import Report, discover_services, needed_topics
from deploy_checks.dockerfiles import check_dockerfiles
from deploy_checks.kubernetes import KUBERNETES_VERSIONS, check_kubernetes

ROOT = Path(__file__).resolve().parents[2]


def check(root: Path = ROOT) -> Report:
    """Run every check on the tree at ``root``; the report lists what is wrong."""
    report = Report(root=root)
    services = discover_services(root, report)
    check_dockerfiles(root, services, report)
    check_compose(root, services, report)
    check_kubernetes(root, services, report)
    return report


def main(argv: Iterable[str] | None = None) -> int:
    """Print the problems and exit 1 when there are any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository to check")
    parser.add_argument("--topics", action="store_true", help="print the topics needed")
    args = parser.parse_args(list(argv) if argv is not None else None)
    root = args.root.resolve()
    if args.topics:
        report = Report(root=root)
        print("\n".join(sorted(needed_topics(discover_services(root, report)))))
        print("\n".join(report.problems), file=sys.stderr)
        return 1 if report.problems else 0
    report = check(root)
    for problem in report.problems:
        print(problem)
    if report.problems:
        print(f"check_deploy: {len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print(
        f"check_deploy: OK ({report.checked_resources} Kubernetes resources, "
        f"{report.checked_vars} JIESU_* variables, Kubernetes {', '.join(KUBERNETES_VERSIONS)})"
    )
    return 0
