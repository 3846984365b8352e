"""Self-review link tokens and rate limits (pure)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from jiesu_review.links import (
    TOKEN_LENGTH,
    LinkRefused,
    RateLimit,
    derive_secret,
    sign,
    verify,
)
from jiesu_review.page import CSP, STYLE, STYLE_HASH, form_page, refusal_page

SECRET = derive_secret("", "development-jwt-secret")
NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def test_a_signed_token_names_its_link_until_it_expires() -> None:
    link_id = uuid.uuid4()
    token = sign(link_id, NOW + timedelta(hours=72), SECRET)
    assert len(token) == TOKEN_LENGTH and token.isascii() and "=" not in token
    claim = verify(token, SECRET, now=NOW)
    assert claim.link_id == link_id and claim.expires_at == NOW + timedelta(hours=72)
    with pytest.raises(LinkRefused) as expired:
        verify(token, SECRET, now=NOW + timedelta(hours=72))
    assert expired.value.reason == "expired"


@pytest.mark.parametrize("position", [0, 10, 25, 40, 47])
def test_a_token_changed_anywhere_is_refused_as_tampered(position: int) -> None:
    token = sign(uuid.uuid4(), NOW + timedelta(hours=1), SECRET)
    changed = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
    with pytest.raises(LinkRefused) as caught:
        verify(changed, SECRET, now=NOW)
    assert caught.value.reason == "tampered"


def test_tokens_of_another_key_or_of_the_wrong_shape_are_tampered() -> None:
    other = derive_secret("a-configured-production-secret", "ignored")
    token = sign(uuid.uuid4(), NOW + timedelta(hours=1), other)
    for bad in (token, token[:-1], token + "A", "", "!" * TOKEN_LENGTH):
        with pytest.raises(LinkRefused) as caught:
            verify(bad, SECRET, now=NOW)
        assert caught.value.reason == "tampered"
    # A later expiry cannot be forged: it is inside what is signed.
    assert verify(token, other, now=NOW).expires_at == NOW + timedelta(hours=1)


def test_no_secret_at_all_is_refused() -> None:
    with pytest.raises(ValueError):
        derive_secret("", "")


def test_rate_limit_counts_per_key_within_its_window() -> None:
    limit = RateLimit(3, 60.0)
    assert [limit.hit("a", now=t) for t in (0.0, 1.0, 2.0)] == [None, None, None]
    wait = limit.hit("a", now=3.0)
    assert wait is not None and 56.0 <= wait <= 57.0
    assert limit.hit("b", now=3.0) is None  # another key is not affected
    assert limit.hit("a", now=60.5) is None  # the first hit left the window


def test_the_page_loads_nothing_and_escapes_what_it_shows() -> None:
    html = form_page({"诉求摘要": "<script>x</script>"}, action="/r/t", values={})
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert f"'sha256-{STYLE_HASH}'" in CSP and STYLE in html
    assert "链接已过期" in refusal_page("expired")
