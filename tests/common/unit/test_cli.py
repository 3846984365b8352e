"""The `jiesu token` command mints tokens the services accept."""

import pytest
from pydantic import SecretStr

from jiesu_common.auth import decode_token
from jiesu_common.cli import main
from jiesu_common.devstack import SERVICES, service_env
from jiesu_common.settings import AuthSettings

SECRET = "cli-test-secret-0123456789abcdef0123"


def test_token_command_prints_a_verifiable_unit_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["token", "--role", "unit_staff", "--unit", "street-s0101", "--secret", SECRET]) == 0
    )
    token = capsys.readouterr().out.strip()
    principal = decode_token(AuthSettings(jwt_secret=SecretStr(SECRET)), token)
    assert (principal.role, principal.unit_id) == ("unit_staff", "street-s0101")


def test_token_command_refuses_unit_staff_without_unit() -> None:
    with pytest.raises(SystemExit, match="unit_id"):
        main(["token", "--role", "unit_staff", "--secret", SECRET])


def test_dev_stack_points_intake_at_dispatchs_catalog() -> None:
    intake = next(s for s in SERVICES if s.name == "intake")
    secrets = {"jwt_secret": "j", "pii_encryption_key": "e", "pii_hash_key": "h"}
    env = service_env(
        intake,
        db_url="postgresql+asyncpg://x/y",
        bootstrap="127.0.0.1:9092",
        secrets=secrets,
        port=8001,
        urls={"intake": "http://127.0.0.1:8001", "dispatch": "http://127.0.0.1:8002"},
    )
    assert env["JIESU_INTAKE_CATALOG__DISPATCH_URL"] == "http://127.0.0.1:8002"
