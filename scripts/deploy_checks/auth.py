"""One JWT secret for every service: a token minted by one service is verified by all.

Operators' tokens are checked by every service they call, and department mints short-lived
service tokens that intake verifies; a service given a secret of its own would answer 401.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from deploy_checks.core import Report, Service


def jwt_variable(service: Service) -> str:
    """The variable that sets a service's JWT secret, e.g. ``JIESU_INTAKE_AUTH__JWT_SECRET``."""
    return f"{service.prefix}AUTH__JWT_SECRET"


def compose_source(value: str | None) -> str | None:
    """Where a compose value comes from: ``${NAME}`` for an interpolation, else the literal."""
    if value is None:
        return None
    match = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}", value.strip())
    return f"${{{match.group(1)}}}" if match else "a literal value"


def check_shared_secret(
    report: Report,
    where: str,
    services: Mapping[str, Service],
    sources: Mapping[str, str | None],
) -> None:
    """``sources``: service name -> where its JWT secret comes from (None: not set)."""
    for name in sorted(sources):
        if sources[name] is None:
            report.add(
                where,
                f"{name}: {jwt_variable(services[name])} is not set (every service verifies "
                "tokens with the one shared JWT secret)",
            )
    given = {name: source for name, source in sources.items() if source is not None}
    if len(set(given.values())) > 1:
        listed = ", ".join(f"{name} from {source}" for name, source in sorted(given.items()))
        report.add(
            where,
            f"services get different JWT secrets ({listed}): a token minted by one would be "
            "rejected by another; give all of them the same secret",
        )
