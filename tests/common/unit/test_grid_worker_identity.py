"""A grid worker's identity carries their grid, from a development token or a provider's."""

import jwt
import pytest
from pydantic import SecretStr

from jiesu_common.auth import decode_token, mint_token
from jiesu_common.http import Problem
from jiesu_common.identity import principal_from_claims
from jiesu_common.settings import AuthSettings

SETTINGS = AuthSettings(jwt_secret=SecretStr("s3cret-for-tests-only-0123456789abcdef"))


def test_a_grid_worker_token_carries_its_grid() -> None:
    token = mint_token(SETTINGS, role="grid_worker", grid_code="G01010101")
    principal = decode_token(SETTINGS, token)
    assert (principal.role, principal.grid_code) == ("grid_worker", "G01010101")
    assert decode_token(SETTINGS, mint_token(SETTINGS, role="operator")).grid_code is None


def test_a_grid_worker_token_needs_a_grid() -> None:
    with pytest.raises(ValueError):
        mint_token(SETTINGS, role="grid_worker")
    claims = {"sub": "x", "role": "grid_worker", "iss": SETTINGS.jwt_issuer}
    forged = jwt.encode(
        {**claims, "aud": SETTINGS.jwt_audience, "exp": 4102444800},
        SETTINGS.jwt_secret.get_secret_value(),
        SETTINGS.jwt_algorithm,
    )
    with pytest.raises(Problem):
        decode_token(SETTINGS, forged)


def test_a_providers_grid_claim_is_configurable() -> None:
    settings = AuthSettings(grid_claim="org.grid")
    claims = {"sub": "w1", "role": ["grid_worker"], "org": {"grid": "G02020202"}}
    assert principal_from_claims(settings, claims).grid_code == "G02020202"
    with pytest.raises(Problem):
        principal_from_claims(AuthSettings(), {"sub": "w1", "role": "grid_worker"})
