"""OpenID Connect access tokens against a JWKS served on loopback with generated keys.

Dispatch's API in production mode (its directory routes need no database): a route every
staff member may read, and one only unit staff may call (its body is invalid on purpose,
so a caller the guard admits gets 422 and one it refuses 403/401).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.http import Problem
from jiesu_common.identity import ServiceCredentials
from jiesu_common.settings import AuthSettings
from jiesu_common.testing.issuer import LoopbackIssuer
from jiesu_dispatch.main import create_app
from jiesu_dispatch.settings import DispatchSettings

SECRET = "oidc-tests-secret-0123456789abcdef012"
UNITS = "/v1/units"
UNIT_ONLY = "/v1/consultations/00000000-0000-0000-0000-000000000001/positions"


@pytest.fixture
def issuer() -> Iterator[LoopbackIssuer]:
    with LoopbackIssuer(clients={"jiesu-department": "dept-secret"}) as running:
        yield running


def production(issuer: LoopbackIssuer, **overrides: Any) -> dict[str, Any]:
    return {
        "mode": "production",
        "oidc_issuer": issuer.url,
        "role_claim": "realm_access.roles",
        "oidc_jwks_cooldown_s": 0,
        **overrides,
    }


async def client_for(auth: dict[str, Any]) -> httpx.AsyncClient:
    app = create_app(DispatchSettings(auth=auth))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dispatch")


@pytest.fixture
async def dispatch(issuer: LoopbackIssuer) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(production(issuer)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def status(client: httpx.AsyncClient, token: str, path: str = UNITS) -> int:
    if path == UNIT_ONLY:
        return (await client.post(path, json={}, headers=bearer(token))).status_code
    return (await client.get(path, headers=bearer(token))).status_code


async def test_keycloak_roles_and_unit_claims_decide_the_caller(
    issuer: LoopbackIssuer, dispatch: httpx.AsyncClient
) -> None:
    assert await status(dispatch, issuer.token(role="dispatcher")) == 200
    assert await status(dispatch, issuer.token(role="dispatcher"), UNIT_ONLY) == 403
    unit_staff = issuer.token(role="unit_staff", unit_id="unit-water")
    assert await status(dispatch, unit_staff, UNIT_ONLY) == 422
    # A unit role without a unit, and a token with no Jiesu role at all, are refused.
    assert await status(dispatch, issuer.token(role="unit_staff")) == 401
    assert await status(dispatch, issuer.token(role="offline_access")) == 401
    # A person's token cannot claim to be a service.
    assert await status(dispatch, issuer.token(role="service")) == 401


async def test_flat_role_and_unit_claims_are_configurable(issuer: LoopbackIssuer) -> None:
    async with await client_for(production(issuer, role_claim="role")) as client:
        assert await status(client, issuer.token(role="supervisor", layout="flat")) == 200
        assert await status(client, issuer.token(role="supervisor")) == 401  # Keycloak layout


async def test_es256_keys_verify(issuer: LoopbackIssuer, dispatch: httpx.AsyncClient) -> None:
    issuer.rotate(algorithm="ES256")
    assert await status(dispatch, issuer.token(role="operator")) == 200


async def test_a_rotated_key_is_fetched_without_a_restart(
    issuer: LoopbackIssuer, dispatch: httpx.AsyncClient
) -> None:
    old = issuer.token(role="operator")
    assert await status(dispatch, old) == 200
    assert await status(dispatch, issuer.token(role="operator")) == 200
    assert issuer.jwks_fetches == 1  # cached
    issuer.rotate()
    assert await status(dispatch, issuer.token(role="operator")) == 200
    assert issuer.jwks_fetches == 2  # the unknown kid made it fetch the keys again
    assert await status(dispatch, old) == 401  # the retired key is gone


async def test_wrong_issuer_audience_expiry_and_not_before_are_refused(
    issuer: LoopbackIssuer, dispatch: httpx.AsyncClient
) -> None:
    now = int(time.time())
    refused = [
        issuer.token(role="operator", iss="http://127.0.0.1:1/realms/other"),
        issuer.token(role="operator", aud="jiesu-elsewhere"),
        issuer.token(role="operator", aud=["another-app"]),
        issuer.token(role="operator", exp=now - 120),
        issuer.token(role="operator", nbf=now + 120),
    ]
    for token in refused:
        answer = await dispatch.get(UNITS, headers=bearer(token))
        assert answer.status_code == 401, token
        assert answer.headers["content-type"] == "application/problem+json"
    # A clock a few seconds off is tolerated (small leeway).
    skewed = issuer.token(role="operator", exp=now - 5, nbf=now + 5)
    assert await status(dispatch, skewed) == 200


async def test_a_token_signed_by_another_key_is_refused(
    issuer: LoopbackIssuer, dispatch: httpx.AsyncClient
) -> None:
    with LoopbackIssuer() as impostor:
        forged = issuer.sign(
            {
                "iss": issuer.url,
                "aud": "jiesu",
                "sub": "x",
                "exp": int(time.time()) + 60,
                "realm_access": {"roles": ["admin"]},
            },
            key=impostor.current.__class__(
                kid=issuer.current.kid, algorithm="RS256", private=impostor.current.private
            ),
        )
    assert await status(dispatch, forged) == 401


def hs256_with(key: bytes, claims: dict[str, Any]) -> str:
    """An HS256 token made by hand: the alg-confusion attack signs with the public key."""

    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


async def test_alg_confusion_with_the_public_key_is_refused(issuer: LoopbackIssuer) -> None:
    public_pem = issuer.current.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {
        "iss": issuer.url,
        "aud": "jiesu",
        "sub": "attacker",
        "exp": int(time.time()) + 60,
        "realm_access": {"roles": ["admin"]},
        "role": "admin",
    }
    forged = hs256_with(public_pem, claims)
    async with await client_for(production(issuer)) as client:
        assert await status(client, forged) == 401
    # Development mode with an issuer configured too: HS256 is checked with the secret only.
    dev = production(issuer, mode="development", jwt_secret=SECRET)
    async with await client_for(dev) as client:
        assert await status(client, forged) == 401
        assert await status(client, issuer.token(role="operator")) == 200


async def test_development_tokens_work_only_in_development_mode(issuer: LoopbackIssuer) -> None:
    dev_token = mint_token(AuthSettings(jwt_secret=SecretStr(SECRET)), role="admin")
    async with await client_for(production(issuer, jwt_secret=SECRET)) as client:
        answer = await client.get(UNITS, headers=bearer(dev_token))
        assert answer.status_code == 401 and "production" in answer.json()["detail"]
    async with await client_for({"jwt_secret": SECRET}) as client:
        assert await status(client, dev_token) == 200


def test_production_without_an_issuer_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="OIDC issuer"):
        create_app(DispatchSettings(auth={"mode": "production"}))


async def test_services_call_with_their_own_client_credentials(
    issuer: LoopbackIssuer, dispatch: httpx.AsyncClient
) -> None:
    settings = AuthSettings(
        **production(issuer),
        client_id="jiesu-department",
        client_secret=SecretStr("dept-secret"),
    )
    department = ServiceCredentials(settings, "department")
    token = await department.token()
    assert await department.token() == token and issuer.token_grants == 1  # reused
    # The directory lets department-response read it; a unit-only route does not.
    assert await status(dispatch, token) == 200
    assert await status(dispatch, token, UNIT_ONLY) == 403
    # Another service's identity is not in the directory's list of callers.
    metrics = issuer.sign(
        {"iss": issuer.url, "aud": "jiesu", "sub": "sa", "azp": "jiesu-metrics", "exp": 2**31}
    )
    assert await status(dispatch, metrics) == 403
    wrong = AuthSettings(
        **production(issuer), client_id="jiesu-department", client_secret=SecretStr("guess")
    )
    with pytest.raises(Problem) as refused:
        await ServiceCredentials(wrong, "department").token()
    assert refused.value.type.endswith("/service-identity-refused")
