"""Schemathesis against the Open311 routes of intake's own OpenAPI, over real HTTP.

Every generated request (valid and invalid) must get no 5xx and a response that keeps to
the documented status codes, content types, headers and JSON schemas.
"""

import base64
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jiesu_intake.main import create_app
from jiesu_intake.settings import IntakeSettings

from .conftest import LiveIntake

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
KNOWN_SERVICES = ("CITY-GARBAGE", "ENV-NOISE", "ROAD-DAMAGE")


@pytest.fixture(scope="module")
def app_key(live_intake: LiveIntake) -> str:
    return live_intake.api_key("schemathesis", rate=100_000)


def _intake_openapi() -> dict[str, Any]:
    """The document the live app serves at /openapi.json (built here without I/O)."""
    key = base64.b64encode(bytes(32)).decode()
    settings = IntakeSettings(
        auth={"jwt_secret": "s" * 40}, pii={"encryption_key": key, "hash_key": key}
    )
    return create_app(settings).openapi()


schema = schemathesis.openapi.from_dict(_intake_openapi()).include(path_regex="^/open311/")


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_open311_routes_keep_to_their_openapi(
    case: schemathesis.Case, live_intake: LiveIntake, app_key: str
) -> None:
    # Reach the filing and updating paths too, not only the 403 of a made-up key.
    if case.method == "POST" and isinstance(case.body, dict) and "api_key" in case.body:
        case.body["api_key"] = app_key
        code = case.body.get("service_code")
        if isinstance(code, str) and len(code) % 2 == 0:
            case.body["service_code"] = KNOWN_SERVICES[len(code) % len(KNOWN_SERVICES)]
    if case.query and "api_key" in case.query and "servicerequestupdates" in case.path:
        case.query["api_key"] = app_key
    case.call_and_validate(base_url=live_intake.base_url, checks=CHECKS, timeout=30)
