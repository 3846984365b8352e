"""Who may call: development tokens in compose, production identity in Kubernetes.

``docker-compose.yml`` runs the development mode: one HS256 secret for every service (a
token minted by one is verified by all, services call each other with tokens naming
themselves), so a service given a secret of its own would answer 401.

``deploy/k8s`` runs the production mode: every service verifies access tokens from the one
OpenID Connect issuer, holds no shared secret (one would mint any role, and production
refuses HS256), and each service that calls another has an OAuth client of its own.
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


# Services that call another service with their own identity (client-credentials grant):
# intake reads dispatch's categories, department reads dispatch's directory and intake's
# caller reveal, callback-review intake's caller reveal.
CALLING_SERVICES = ("intake", "department", "review", "metrics")


def check_production_identity(
    report: Report,
    where: str,
    services: Mapping[str, Service],
    envs: Mapping[str, Mapping[str, str | None]],
    secret_sources: Mapping[str, str | None],
) -> None:
    """``envs``: each service's environment (None: from a Secret); ``secret_sources``: where
    each service's ``AUTH__CLIENT_SECRET`` comes from (None: not set)."""
    issuers: dict[str, str] = {}
    for name in sorted(envs):
        service, env = services[name], envs[name]
        prefix = f"{service.prefix}AUTH__"
        if env.get(f"{prefix}MODE") != "production":
            report.add(
                where,
                f"{name}: {prefix}MODE must be production (OpenID Connect tokens; "
                "development tokens are for jiesu dev and compose)",
            )
        if f"{prefix}JWT_SECRET" in env:
            report.add(
                where,
                f"{name}: {prefix}JWT_SECRET is set: production refuses HS256, and a shared "
                "secret would mint any role; remove it",
            )
        issuer = env.get(f"{prefix}OIDC_ISSUER") or ""
        if not issuer.startswith("https://"):
            report.add(where, f"{name}: {prefix}OIDC_ISSUER must be the issuer's https URL")
        else:
            issuers[name] = issuer
        if name in CALLING_SERVICES:
            if not env.get(f"{prefix}CLIENT_ID"):
                report.add(where, f"{name}: {prefix}CLIENT_ID is not set (it calls other services)")
            source = secret_sources.get(name)
            if source is None or not source.startswith("Secret "):
                report.add(
                    where,
                    f"{name}: {prefix}CLIENT_SECRET must come from a Secret of its own "
                    f"(found: {source or 'not set'})",
                )
    if len(set(issuers.values())) > 1:
        listed = ", ".join(f"{name} {issuer}" for name, issuer in sorted(issuers.items()))
        report.add(where, f"services trust different issuers ({listed}); use one")
    given = [(n, s) for n, s in secret_sources.items() if s is not None and n in CALLING_SERVICES]
    for source in sorted({s for _, s in given}):
        sharing = sorted(n for n, s in given if s == source)
        if len(sharing) > 1:
            report.add(
                where,
                f"{', '.join(sharing)} share one client secret ({source}): give each service "
                "its own OAuth client, so each internal route can tell who calls it",
            )
