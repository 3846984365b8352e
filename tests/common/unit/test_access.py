"""Route policies and the authentication-failure throttle (pure logic)."""

import pytest

from jiesu_common.access import AuthThrottle, Policy, access
from jiesu_common.auth import Principal
from jiesu_common.http import Problem


def test_policy_admits_declared_roles_apps_and_services_only() -> None:
    policy = Policy.of(access("operator", apps=True, services=["review"])["x-jiesu-access"])
    policy.admit(Principal(subject="o", role="operator"))
    policy.admit(Principal(subject="app", role="app", app_id="civic"))
    policy.admit(Principal(subject="service:review", role="service", service="review"))
    for refused in (
        Principal(subject="d", role="dispatcher"),
        Principal(subject="service:metrics", role="service", service="metrics"),
    ):
        with pytest.raises(Problem) as caught:
            policy.admit(refused)
        assert caught.value.status == 403


def test_a_service_never_passes_as_the_role_it_carries() -> None:
    staff_only = Policy.of(access("admin", "service")["x-jiesu-access"])
    with pytest.raises(Problem):
        staff_only.admit(Principal(subject="service:x", role="service", service="x"))


def test_throttle_blocks_an_address_after_the_limit_but_not_known_good_credentials() -> None:
    throttle = AuthThrottle(limit=3, window_s=60, block_s=30)
    throttle.succeeded("Bearer good")
    for _ in range(2):
        throttle.failed("10.0.0.9")
    throttle.check("10.0.0.9", "Bearer bad")  # two failures: still admitted
    throttle.failed("10.0.0.9")
    with pytest.raises(Problem) as caught:
        throttle.check("10.0.0.9", "Bearer bad")
    assert caught.value.status == 429 and int(caught.value.headers["Retry-After"]) <= 30
    throttle.check("10.0.0.9", "Bearer good")
    throttle.check("10.0.0.10", "Bearer bad")  # another address is not affected


def test_failures_outside_the_window_do_not_add_up() -> None:
    throttle = AuthThrottle(limit=2, window_s=0.0, block_s=30)
    throttle.failed("10.0.0.9")
    throttle.failed("10.0.0.9")
    throttle.check("10.0.0.9", "Bearer bad")
