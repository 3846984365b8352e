"""JWT bearer auth with roles and unit scope; development tokens for `jiesu token`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, get_args

import jwt
from fastapi import Depends, Request

from jiesu_common.http import Problem
from jiesu_common.settings import AuthSettings

# "service" is for calls between Jiesu services (minted by a service, never by people).
Role = Literal["operator", "dispatcher", "unit_staff", "reviewer", "supervisor", "admin", "service"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person with a role (and a unit for unit staff), or a third-party app."""

    subject: str
    role: str
    unit_id: str | None = None
    app_id: str | None = None

    @property
    def is_app(self) -> bool:
        """True for a third-party app authenticated by API key."""
        return self.app_id is not None


def mint_token(
    settings: AuthSettings,
    *,
    role: str,
    unit_id: str | None = None,
    subject: str | None = None,
    ttl: timedelta = timedelta(days=30),
) -> str:
    """Sign a token for a role (and unit); used by `jiesu token` and `jiesu dev`."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "unit_staff" and not unit_id:
        raise ValueError("unit_staff tokens need a unit_id")
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": subject or (f"{role}:{unit_id}" if unit_id else f"{role}:dev"),
        "role": role,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if unit_id:
        claims["unit_id"] = unit_id
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), settings.jwt_algorithm)


def decode_token(settings: AuthSettings, token: str) -> Principal:
    """Verify signature, expiry, issuer and audience; raise a 401 problem otherwise."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
    except jwt.PyJWTError as exc:
        raise Problem.unauthorized(f"令牌无效 / invalid token: {exc}") from exc
    role = claims.get("role")
    if role not in ROLES:
        raise Problem.unauthorized("令牌缺少有效角色 / token has no valid role")
    unit_id = claims.get("unit_id")
    if role == "unit_staff" and not unit_id:
        raise Problem.unauthorized("单位人员令牌缺少 unit_id / unit_staff token without unit_id")
    return Principal(subject=str(claims.get("sub")), role=role, unit_id=unit_id)


def bearer_principal(settings: AuthSettings, request: Request) -> Principal | None:
    """The principal of an ``Authorization: Bearer`` header, or None when absent."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem.unauthorized("需要 Bearer 令牌 / expected a Bearer token")
    return decode_token(settings, token.strip())


def require_roles(principal: Principal, *roles: str) -> Principal:
    """Raise 403 unless the principal has one of ``roles``."""
    if principal.role not in roles:
        raise Problem.forbidden(
            f"角色 {principal.role} 无权执行此操作 / role {principal.role} may not do this"
        )
    return principal


async def staff_principal(request: Request) -> Principal:
    """Staff by ``Authorization: Bearer`` JWT, checked with the app's auth settings; else 401."""
    principal = bearer_principal(request.app.state.auth_settings, request)
    if principal is None:
        raise Problem.unauthorized("需要 Bearer 令牌 / a Bearer token is required")
    return principal


Staff = Annotated[Principal, Depends(staff_principal)]
