"""Third-party apps' API keys: issue, list, rotate, revoke, and admit a request by key.

Only a key's SHA-256 is stored; the key itself is shown once, when it is made. Each key
is rate-limited by GCRA with its state (one timestamp) on the key's own row, so every
replica of intake enforces the same limit.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jiesu_common.auth import Principal
from jiesu_common.http import Problem
from jiesu_intake import domain
from jiesu_intake.handlers import IntakeUnitOfWork

KEY_PREFIX = "jsk_"


@dataclass(frozen=True)
class IssuedKey:
    """A key just made: its stored row and the key itself (shown once)."""

    row: Any
    key: str


def hash_api_key(key: str) -> str:
    """SHA-256 of a key (keys are long random strings, so no salt is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def is_active(row: Any, now: datetime) -> bool:
    """A key works until its revocation time (a rotated key's grace period ends there)."""
    return row.revoked_at is None or row.revoked_at > now


async def create_api_key(
    *, app_id: str, name: str, rate_limit: int | None, uow: IntakeUnitOfWork
) -> IssuedKey:
    """A new key for an app."""
    issued = await _issue(app_id=app_id, name=name, rate_limit=rate_limit, uow=uow)
    await uow.commit()
    return issued


async def rotate_api_key(
    *, key_id: uuid.UUID, grace: timedelta, uow: IntakeUnitOfWork
) -> IssuedKey:
    """A new key in place of an active one, which keeps working for ``grace``."""
    now = datetime.now(UTC)
    old = await _active_key(key_id, uow, now)
    issued = await _issue(
        app_id=old.app_id, name=old.name, rate_limit=old.rate_limit_per_minute, uow=uow
    )
    await uow.api_keys.update(key_id, {"revoked_at": now + grace, "replaced_by": issued.row.id})
    await uow.commit()
    return issued


async def revoke_api_key(*, key_id: uuid.UUID, uow: IntakeUnitOfWork) -> Any:
    """Stop a key now (revoking a revoked key changes nothing)."""
    now = datetime.now(UTC)
    row = await uow.api_keys.get(key_id, for_update=True)
    if row is None:
        raise Problem.not_found(f"API 密钥 / API key {key_id}")
    if is_active(row, now):
        await uow.api_keys.update(key_id, {"revoked_at": now})
    await uow.commit()
    return await uow.api_keys.get(key_id)


async def admit_app(
    key: str, *, uow: IntakeUnitOfWork, default_rate: int, now: datetime | None = None
) -> Principal:
    """The app owning an active key, if the key is within its rate limit (else 401 / 429)."""
    now = now or datetime.now(UTC)
    row = await uow.api_keys.by_hash(hash_api_key(key))
    if row is None or not is_active(row, now):
        raise Problem.unauthorized("API 密钥无效或已吊销 / unknown or revoked API key")
    rate = row.rate_limit_per_minute or default_rate
    decision = domain.throttle(tat=row.rate_tat, now=now, per_minute=rate)
    if not decision.allowed:
        raise Problem(
            429,
            "rate-limited",
            "请求过于频繁 / Too many requests",
            f"该 API 密钥每分钟限 {rate} 次请求，请 {decision.retry_after_s} 秒后重试 / "
            f"this key allows {rate} requests a minute; retry in {decision.retry_after_s} s",
            headers={"Retry-After": str(decision.retry_after_s)},
        )
    await uow.api_keys.update(row.id, {"rate_tat": decision.tat, "last_used_at": now})
    await uow.commit()
    return Principal(subject=f"app:{row.app_id}", role="app", app_id=row.app_id)


async def _issue(
    *, app_id: str, name: str, rate_limit: int | None, uow: IntakeUnitOfWork
) -> IssuedKey:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = uuid.uuid4()
    await uow.api_keys.add(
        {
            "id": key_id,
            "app_id": app_id,
            "name": name,
            "key_hash": hash_api_key(key),
            "prefix": key[:8],
            "rate_limit_per_minute": rate_limit,
        }
    )
    row = await uow.api_keys.get(key_id)
    return IssuedKey(row=row, key=key)


async def _active_key(key_id: uuid.UUID, uow: IntakeUnitOfWork, now: datetime) -> Any:
    row = await uow.api_keys.get(key_id, for_update=True)
    if row is None:
        raise Problem.not_found(f"API 密钥 / API key {key_id}")
    if not is_active(row, now):
        raise Problem.conflict(
            "api-key-revoked", "已吊销的密钥不能轮换 / a revoked key cannot be rotated"
        )
    return row
