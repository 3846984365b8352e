"""Residents' self-review links (pure): the signed token and the rate limits.

A token is ``base64url(link id ‖ expiry ‖ HMAC-SHA256 tag)``, 48 characters, short enough
for an SMS. The signature makes it unforgeable and the expiry is inside what is signed;
single use is the database's part (``self_review_links.used_at``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

_TAG_BYTES = 16
_BODY = struct.Struct(">16sI")  # link id, expiry (unix seconds)
TOKEN_LENGTH = 48

Refusal = Literal["tampered", "expired"]


@dataclass(frozen=True)
class LinkClaim:
    """What a valid token says: which link, valid until when."""

    link_id: uuid.UUID
    expires_at: datetime


class LinkRefused(Exception):
    """A token that is not one of ours (``tampered``) or past its time (``expired``)."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason)
        self.reason: Refusal = reason


def derive_secret(configured: str, fallback: str) -> bytes:
    """The signing key: the configured one, else one derived from ``fallback`` (development)."""
    if configured:
        return configured.encode()
    if not fallback:
        raise ValueError("no secret for self-review links")
    return hmac.new(fallback.encode(), b"jiesu self-review link v1", hashlib.sha256).digest()


def sign(link_id: uuid.UUID, expires_at: datetime, secret: bytes) -> str:
    """The token of a link."""
    body = _BODY.pack(link_id.bytes, int(expires_at.timestamp()))
    tag = hmac.new(secret, body, hashlib.sha256).digest()[:_TAG_BYTES]
    return base64.urlsafe_b64encode(body + tag).decode().rstrip("=")


def verify(token: str, secret: bytes, *, now: datetime | None = None) -> LinkClaim:
    """The link a token names, or ``LinkRefused``."""
    if len(token) != TOKEN_LENGTH:
        raise LinkRefused("tampered")
    try:
        raw = base64.urlsafe_b64decode(token.encode() + b"==")
    except (binascii.Error, ValueError):
        raise LinkRefused("tampered") from None
    body, tag = raw[: _BODY.size], raw[_BODY.size :]
    expected = hmac.new(secret, body, hashlib.sha256).digest()[:_TAG_BYTES]
    if len(raw) != _BODY.size + _TAG_BYTES or not hmac.compare_digest(tag, expected):
        raise LinkRefused("tampered")
    link_bytes, expiry = _BODY.unpack(body)
    expires_at = datetime.fromtimestamp(expiry, UTC)
    if (now or datetime.now(UTC)) >= expires_at:
        raise LinkRefused("expired")
    return LinkClaim(uuid.UUID(bytes=link_bytes), expires_at)


class RateLimit:
    """At most ``limit`` hits per key within ``window_s`` (in process, per replica)."""

    def __init__(self, limit: int, window_s: float, *, max_keys: int = 50_000) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str, *, now: float | None = None) -> float | None:
        """Count a hit; the seconds to wait when the key is over its limit (not counted)."""
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            if len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        self._hits.move_to_end(key)
        while hits and now - hits[0] >= self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1.0, self.window_s - (now - hits[0]))
        hits.append(now)
        return None
