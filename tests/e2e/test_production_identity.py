"""The five steps in production mode: OIDC tokens from a loopback issuer, HS256 refused.

A second stack runs every service with production settings: people's access tokens come
from the issuer (Keycloak's layout: ``realm_access.roles`` and a ``unit_id`` claim), each
service gets its own token with the client-credentials grant for its calls to the others
(intake → dispatch's catalog, department-response and callback-review → intake's caller
reveal), and every development token is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.devstack import SERVICES, DevStack, ServiceSpec
from jiesu_common.settings import SERVICE_NAMES, AuthSettings
from jiesu_common.testing.issuer import LoopbackIssuer
from tests.e2e.conftest import free_port_base
from tests.e2e.workflow import Platform

OWNER = "dept-jt"
PEOPLE = ("operator", "dispatcher", "reviewer", "supervisor", "admin")
CLIENTS = {f"jiesu-{name}": secrets.token_urlsafe(24) for name in SERVICE_NAMES}


@pytest.fixture(scope="module")
def issuer() -> Iterator[LoopbackIssuer]:
    with LoopbackIssuer(clients=CLIENTS, algorithm="ES256") as running:
        yield running


@pytest.fixture(scope="module")
def production_stack(
    tmp_path_factory: pytest.TempPathFactory, issuer: LoopbackIssuer
) -> Iterator[DevStack]:
    def production(spec: ServiceSpec) -> dict[str, str]:
        p = spec.env_prefix
        env = {
            f"{p}AUTH__MODE": "production",
            f"{p}AUTH__OIDC_ISSUER": issuer.url,
            f"{p}AUTH__ROLE_CLAIM": "realm_access.roles",
        }
        if spec.name in SERVICE_NAMES:
            env[f"{p}AUTH__CLIENT_ID"] = f"jiesu-{spec.name}"
            env[f"{p}AUTH__CLIENT_SECRET"] = CLIENTS[f"jiesu-{spec.name}"]
        return env

    root: Path = tmp_path_factory.mktemp("jiesu-production") / ".jiesu"
    dev = DevStack(root, port_base=free_port_base(), extra_env=production)
    try:
        dev.start()
        yield dev
    finally:
        dev.stop()


def oidc_tokens(issuer: LoopbackIssuer) -> dict[str, Any]:
    """People's access tokens as the issuer hands them out, in the shape Platform reads."""
    tokens: dict[str, Any] = {r: issuer.token(role=r, ttl_s=3600) for r in PEOPLE}
    tokens["units"] = {
        u: issuer.token(role="unit_staff", unit_id=u, ttl_s=3600) for u in (OWNER, "dept-hj")
    }
    return tokens


async def test_five_steps_with_oidc_tokens_and_service_identities(
    production_stack: DevStack, issuer: LoopbackIssuer
) -> None:
    p = Platform(production_stack, oidc_tokens(issuer))
    filed = await p.file_road_damage(
        "生产模式：建设路人行道塌陷一个大坑", phone="13355556666", grid="G01010101", name="王五"
    )
    case = await p.case_of(filed["complaint_id"], OWNER, round_no=1)
    # department-response asks intake for the number with its own client-credentials token.
    revealed = await p.call(
        "POST", "department", f"/v1/cases/{case['case_id']}/caller", f"unit:{OWNER}", body={}
    )
    assert revealed.status_code == 200 and revealed.json()["phone"] == "13355556666"
    await p.handle(case, "已回填路面")
    review = await p.review_of(filed["complaint_id"], 1)
    path = f"/v1/reviews/{review['review_id']}/caller"
    by_review = await p.call("POST", "review", path, "reviewer", body={})
    assert by_review.status_code == 200 and by_review.json()["phone"] == "13355556666"
    await p.complete_review(
        review["review_id"], {"contacted": True, "resolved": True, "satisfaction": "satisfied"}
    )

    async def closed() -> bool:
        return (await p.complaint(filed["complaint_id"]))["status"] == "closed"

    await p.until(closed, what="closed in production mode")
    assert issuer.token_grants >= 2  # department and review (and intake) got their own tokens

    # Another unit's staff still sees nothing of it.
    other = await p.call("GET", "department", f"/v1/cases/{case['case_id']}", "unit:dept-hj")
    assert other.status_code == 404


async def test_development_tokens_and_foreign_tokens_are_refused_everywhere(
    production_stack: DevStack, issuer: LoopbackIssuer
) -> None:
    dev = AuthSettings(jwt_secret=SecretStr(production_stack.secrets["jwt_secret"]))
    refused = {
        "HS256 admin": mint_token(dev, role="admin"),
        "HS256 service": mint_token(dev, role="service", service="department"),
        "another audience": issuer.token(role="admin", aud="another-app"),
        "expired": issuer.token(role="admin", ttl_s=-600),
    }
    async with httpx.AsyncClient(timeout=30) as client:
        for spec in (s for s in SERVICES if s.database):
            document = (await client.get(f"{production_stack.url_of(spec)}/openapi.json")).json()
            path = next(p for p, ops in document["paths"].items() if "get" in ops and "{" not in p)
            url = production_stack.url_of(spec) + path
            for what, token in refused.items():
                answer = await client.get(url, headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code == 401, (spec.name, what, answer.text)
        # Intake's caller reveal refuses a person even with a valid admin token.
        intake = production_stack.url_of(next(s for s in SERVICES if s.name == "intake"))
        answer = await client.get(
            f"{intake}/internal/v1/complaints/00000000-0000-0000-0000-000000000001/caller",
            headers={"Authorization": f"Bearer {issuer.token(role='admin')}"},
        )
        assert answer.status_code == 403


async def test_the_console_takes_the_providers_token_and_has_no_development_sign_in(
    production_stack: DevStack, issuer: LoopbackIssuer
) -> None:
    console = production_stack.url_of(next(s for s in SERVICES if s.name == "console"))
    async with httpx.AsyncClient(base_url=console, timeout=30) as client:
        # An OpenID Connect proxy in front of the console passes the person's access token.
        supervisor = {"Authorization": f"Bearer {issuer.token(role='supervisor')}"}
        page = await client.get("/dashboard", headers=supervisor)
        assert page.status_code == 200 and "监督考核" in page.text
        assert (await client.post("/login", data={"role": "admin"})).status_code == 404
        dev = AuthSettings(jwt_secret=SecretStr(production_stack.secrets["jwt_secret"]))
        forged = {"Authorization": f"Bearer {mint_token(dev, role='supervisor')}"}
        assert (await client.get("/dashboard", headers=forged)).status_code == 303


async def test_webhook_targets_on_private_addresses_are_refused_in_production(
    production_stack: DevStack, issuer: LoopbackIssuer
) -> None:
    p = Platform(production_stack, oidc_tokens(issuer))
    for target in (
        "https://10.1.2.3/hook",
        "https://172.16.0.9/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1:8443/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://localhost/hook",
        "http://127.0.0.1:9000/hook",  # plain http: development only
    ):
        answer = await p.call(
            "POST",
            "department",
            "/v1/subscriptions",
            f"unit:{OWNER}",
            body={"url": target, "event_types": ["case.assigned"]},
        )
        assert answer.status_code == 422, (target, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["type"].endswith("/webhook-target-refused"), answer.json()
    listed = await p.call("GET", "department", "/v1/subscriptions", f"unit:{OWNER}")
    assert listed.status_code == 200 and listed.json()["items"] == []
