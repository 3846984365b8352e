"""Role, unit and service from an access token's claims, as configured."""

import time
from datetime import timedelta

import pytest

from jiesu_common import identity
from jiesu_common.auth import mint_token
from jiesu_common.http import Problem
from jiesu_common.identity import TokenVerifier, principal_from_claims
from jiesu_common.settings import AuthSettings


def test_keycloak_client_roles_and_a_unit_claim() -> None:
    settings = AuthSettings(role_claim="resource_access.jiesu.roles", unit_claim="org.unit")
    claims = {
        "sub": "u-1",
        "azp": "jiesu-console",
        "realm_access": {"roles": ["admin"]},  # not the configured claim: ignored
        "resource_access": {"jiesu": {"roles": ["viewer", "unit_staff"]}},
        "org": {"unit": ["dept-jt"]},
    }
    principal = principal_from_claims(settings, claims)
    assert (principal.role, principal.unit_id, principal.service) == ("unit_staff", "dept-jt", None)


def test_a_services_client_makes_a_service_principal_whatever_its_roles() -> None:
    claims = {"sub": "sa", "azp": "jiesu-review", "role": "admin"}
    principal = principal_from_claims(AuthSettings(), claims)
    assert (principal.role, principal.service) == ("service", "review")


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "p", "role": "service"},
        {"sub": "p", "role": "unit_staff"},
        {"sub": "p", "role": ["viewer"]},
        {"sub": "p", "azp": "some-other-client"},
    ],
)
def test_tokens_without_a_usable_role_are_refused(claims: dict[str, object]) -> None:
    with pytest.raises(Problem) as refused:
        principal_from_claims(AuthSettings(), claims)
    assert refused.value.status == 401


def test_a_verified_token_is_remembered_until_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = AuthSettings(development=True, jwt_secret="s" * 32)
    verifier = TokenVerifier(settings)
    token = mint_token(settings, role="operator", subject="op-1", ttl=timedelta(minutes=10))
    first = verifier.verify(token)
    checks: list[str] = []
    real = verifier._verify
    monkeypatch.setattr(verifier, "_verify", lambda t, a: (checks.append(t), real(t, a))[1])
    assert verifier.verify(token) == first and checks == []  # no second signature check
    now = time.time()
    monkeypatch.setattr(identity.time, "time", lambda: now + 601)  # past its exp
    verifier.verify(token)  # (PyJWT's own clock still finds it valid)
    assert checks == [token]  # the remembered answer ended with the token's exp
    expired = mint_token(settings, role="operator", ttl=timedelta(seconds=-5))
    for _ in range(2):
        with pytest.raises(Problem) as refused:
            verifier.verify(expired)
        assert refused.value.status == 401
    assert expired not in verifier._verified
