"""Schemathesis over every service's whole OpenAPI, against the running stack, valid tokens.

Each operation is called by a caller it admits (its ``x-jiesu-access``), so the requests
reach validation and the handlers: no 5xx, and every answer keeps to the documented status
codes, content types, headers and schemas. Open311 has its own run (tests/contract); the two
SSE streams never end, so they are left to the authorisation matrix. The number of cases per
service is written to test-artifacts/security/schemathesis.json.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jiesu_common.auth import mint_token
from jiesu_common.devstack import SERVICES, DevStack
from jiesu_common.settings import AuthSettings

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "security"
OWNER = "dept-jt"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 6
CASES: Counter[str] = Counter()
SPEC_OF = {s.name: s for s in SERVICES}


@pytest.fixture(scope="module", autouse=True)
def count_cases() -> Iterator[None]:
    yield
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "schemathesis.json").write_text(json.dumps(dict(CASES), indent=1))
    print(f"schemathesis cases per service: {dict(CASES)}")


def headers_for(stack: DevStack, tokens: dict[str, Any], policy: dict[str, Any]) -> dict[str, str]:
    """A bearer token of a caller the operation admits."""
    roles = policy["roles"]
    if roles:
        role = roles[0]
        token = tokens["units"][OWNER] if role == "unit_staff" else tokens[role]
    else:
        auth = AuthSettings(jwt_secret=SecretStr(stack.secrets["jwt_secret"]))
        token = mint_token(auth, role="service", service=policy["services"][0])
    return {"Authorization": f"Bearer {token}"}


def keeps_to_its_openapi(service: str) -> Callable[..., None]:
    schema = schemathesis.openapi.from_path(ROOT / "schemas" / "openapi" / f"{service}.json")
    schema = schema.exclude(path_regex=r"^/open311/|/stream$|^/v1/live$")

    @schema.parametrize()
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def test(case: schemathesis.Case, stack: DevStack, tokens: dict[str, Any]) -> None:
        policy = case.operation.definition.raw["x-jiesu-access"]
        CASES[service] += 1
        case.call_and_validate(
            base_url=stack.url_of(SPEC_OF[service]),
            headers=headers_for(stack, tokens, policy),
            checks=CHECKS,
            timeout=30,
        )

    return test


test_intake_keeps_to_its_openapi = keeps_to_its_openapi("intake")
test_dispatch_keeps_to_its_openapi = keeps_to_its_openapi("dispatch")
test_department_keeps_to_its_openapi = keeps_to_its_openapi("department")
test_review_keeps_to_its_openapi = keeps_to_its_openapi("review")
test_metrics_keeps_to_its_openapi = keeps_to_its_openapi("metrics")
