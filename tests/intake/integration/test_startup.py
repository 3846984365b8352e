"""A service refuses to serve on a database that is not migrated to head."""

import base64
import os

import pytest

from jiesu_common.runtime import SchemaNotMigrated
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_intake.main import create_app
from jiesu_intake.settings import IntakeSettings


async def test_intake_refuses_to_start_on_an_unmigrated_database(
    new_database: DatabaseFactory,
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = IntakeSettings(
        database={"url": await new_database("bare")},
        auth={"jwt_secret": "x" * 32},
        pii={"encryption_key": key, "hash_key": key},
    )
    context = create_app(settings).state.intake.context
    with pytest.raises(SchemaNotMigrated, match="migrate"):
        await context.start()
    checks = await context.readiness()
    assert checks["database"] is True and checks["schema"] is False
    await context.engine.dispose()


def test_intake_refuses_to_run_without_pii_keys() -> None:
    with pytest.raises(ValueError, match="PII__ENCRYPTION_KEY"):
        create_app(IntakeSettings(auth={"jwt_secret": "x" * 32}))


def test_a_service_refuses_to_start_with_a_missing_or_short_jwt_secret() -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    for secret in ("", "short"):
        with pytest.raises(ValueError, match="JWT secret"):
            create_app(
                IntakeSettings(
                    auth={"jwt_secret": secret}, pii={"encryption_key": key, "hash_key": key}
                )
            )
