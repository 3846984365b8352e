"""Webhooks' pure rules: where a webhook may go (SSRF guard) and the retry schedule."""

import ipaddress
from datetime import timedelta

import pytest

from jiesu_department.webhooks import rules
from jiesu_department.webhooks.targets import (
    TargetRefused,
    address_allowed,
    check_addresses,
    check_url,
    is_public,
)

ip = ipaddress.ip_address

NOT_PUBLIC = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.1.1",
    "255.255.255.255",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    "2002:a00:1::",  # 6to4 wrapping 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "ff02::1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "114.114.114.114", "2001:4860:4860::8888", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_private_loopback_link_local_and_wrapped_addresses_are_refused_outside_development(
    address: str,
) -> None:
    assert not is_public(ip(address))
    assert not address_allowed(ip(address), development=False)
    assert address_allowed(ip(address), development=True)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(ip(address))
    assert address_allowed(ip(address), development=False)


@pytest.mark.parametrize(
    ("url", "development"),
    [
        ("http://example.com/hook", False),
        ("http://example.com/hook", True),  # http only to loopback, even in development
        ("http://127.0.0.1:9000/hook", False),
        ("http://localhost/hook", False),
        ("ftp://example.com/hook", True),
        ("https://user:pw@example.com/hook", False),
        ("https:///hook", False),
        ("https://example.com/hook#frag", False),
        ("not a url", False),
        ("https://example.com/" + "a" * 2000, False),
    ],
)
def test_urls_of_the_wrong_shape_are_refused(url: str, development: bool) -> None:
    with pytest.raises(TargetRefused):
        check_url(url, development=development)


def test_http_to_loopback_is_allowed_in_development_only() -> None:
    for url in ("http://127.0.0.1:9000/hook", "http://[::1]:9000/hook", "http://localhost/h"):
        assert check_url(url, development=True).scheme == "http"
    assert check_url("https://hooks.example.com/x", development=False).host == "hooks.example.com"


def test_a_name_with_any_private_answer_is_refused_and_public_answers_pass() -> None:
    url = check_url("https://hooks.example.com/x", development=False)
    with pytest.raises(TargetRefused, match=r"10\.0\.0\.7"):
        check_addresses(url, [ip("93.184.216.34"), ip("10.0.0.7")], development=False)
    with pytest.raises(TargetRefused):
        check_addresses(url, [], development=False)
    assert check_addresses(url, [ip("93.184.216.34")], development=False) == (ip("93.184.216.34"),)
    assert check_addresses(url, [ip("10.0.0.7")], development=True) == (ip("10.0.0.7"),)


def test_plain_http_in_development_must_resolve_to_loopback_only() -> None:
    url = check_url("http://localhost:9000/hook", development=True)
    assert check_addresses(url, [ip("127.0.0.1"), ip("::1")], development=True)
    with pytest.raises(TargetRefused):
        check_addresses(url, [ip("127.0.0.1"), ip("192.168.1.5")], development=True)


def test_the_default_retry_schedule_grows_exponentially_over_about_a_day() -> None:
    policy = rules.RetryPolicy()
    assert policy.schedule() == [60, 180, 540, 1620, 4860, 14580, 28800, 28800]
    assert timedelta(hours=20) < policy.span() < timedelta(hours=26)
    assert policy.delay_after(1) == 60
    assert policy.delay_after(policy.max_attempts) is None  # the last failure is final


def test_a_short_test_schedule_keeps_its_shape() -> None:
    policy = rules.RetryPolicy(base_s=0.2, factor=2, cap_s=1.0, max_attempts=5)
    assert policy.schedule() == [0.2, 0.4, 0.8, 1.0]
    assert policy.delay_after(5) is None


def test_a_subscription_is_disabled_after_repeated_dead_deliveries() -> None:
    assert not rules.should_disable(4, disable_after=5)
    assert rules.should_disable(5, disable_after=5)


def test_case_actions_map_to_event_types_and_secrets_follow_standard_webhooks() -> None:
    assert rules.event_type_of("assigned") == "case.assigned"
    assert rules.event_type_of("accept") == "case.accepted"
    assert rules.event_type_of(None) == rules.CASE_UPDATED
    assert rules.event_type_of("something-new") == rules.CASE_UPDATED
    secret = rules.new_secret()
    assert secret.startswith("whsec_") and secret != rules.new_secret()
    assert rules.new_webhook_id().startswith("msg_")
