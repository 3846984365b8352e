"""JWT minting and verification with roles and unit scope."""

from datetime import timedelta

import pytest
from pydantic import SecretStr

from jiesu_common.auth import Principal, decode_token, mint_token, require_roles
from jiesu_common.http import Problem
from jiesu_common.settings import AuthSettings

SETTINGS = AuthSettings(jwt_secret=SecretStr("s3cret-for-tests-only-0123456789abcdef"))


def test_unit_staff_token_carries_its_unit() -> None:
    principal = decode_token(SETTINGS, mint_token(SETTINGS, role="unit_staff", unit_id="u-1"))
    assert principal == Principal(subject="unit_staff:u-1", role="unit_staff", unit_id="u-1")


def test_unit_staff_token_without_unit_cannot_be_minted() -> None:
    with pytest.raises(ValueError):
        mint_token(SETTINGS, role="unit_staff")


def test_token_signed_with_another_secret_is_rejected() -> None:
    other = AuthSettings(jwt_secret=SecretStr("another-secret-0123456789abcdef-xyz"))
    with pytest.raises(Problem) as err:
        decode_token(SETTINGS, mint_token(other, role="operator"))
    assert err.value.status == 401


def test_expired_token_is_rejected() -> None:
    token = mint_token(SETTINGS, role="operator", ttl=timedelta(seconds=-5))
    with pytest.raises(Problem) as err:
        decode_token(SETTINGS, token)
    assert "expired" in (err.value.detail or "")


def test_role_check_answers_403() -> None:
    with pytest.raises(Problem) as err:
        require_roles(Principal(subject="x", role="operator"), "dispatcher")
    assert err.value.status == 403
    assert require_roles(Principal(subject="x", role="admin"), "admin").role == "admin"
