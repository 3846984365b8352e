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
# A grid worker (网格员) patrols one grid and files what they find there (未诉先办).
Role = Literal[
    "operator",
    "dispatcher",
    "unit_staff",
    "reviewer",
    "supervisor",
    "admin",
    "grid_worker",
    "service",
]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person with a role (and a unit for unit staff, a grid for a grid
    worker), or a third-party app."""

    subject: str
    role: str
    unit_id: str | None = None
    app_id: str | None = None
    # The Jiesu service calling (``intake``, ``department`` …) for role ``service``.
    service: str | None = None
    grid_code: str | None = None

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
    service: str | None = None,
    grid_code: str | None = None,
) -> str:
    """Sign a development token for a role (and unit or grid, or the calling service)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "unit_staff" and not unit_id:
        raise ValueError("unit_staff tokens need a unit_id")
    if (role == "grid_worker") != (grid_code is not None):
        raise ValueError("grid_worker tokens (and only they) name a grid_code")
    if (role == "service") != (service is not None):
        raise ValueError("service tokens (and only they) name the calling service")
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": subject
        or (f"{role}:{unit_id or grid_code}" if unit_id or grid_code else f"{role}:dev"),
        "role": role,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if unit_id:
        claims["unit_id"] = unit_id
    if grid_code:
        claims["grid_code"] = grid_code
    if service:
        claims["service"] = service
        claims["sub"] = f"service:{service}"
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
    grid_code = claims.get("grid_code")
    if role == "grid_worker" and (not isinstance(grid_code, str) or not grid_code):
        raise Problem.unauthorized("网格员令牌缺少 grid_code / grid_worker token without a grid")
    subject = str(claims.get("sub"))
    service = None
    if role == "service":
        service = claims.get("service")
        if not isinstance(service, str) or not service:
            raise Problem.unauthorized("服务令牌缺少服务名 / service token names no service")
    return Principal(
        subject=subject,
        role=role,
        unit_id=unit_id,
        service=service,
        grid_code=grid_code if role == "grid_worker" else None,
    )


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None when absent."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem.unauthorized("需要 Bearer 令牌 / expected a Bearer token")
    return token.strip()


def require_roles(principal: Principal, *roles: str) -> Principal:
    """Raise 403 unless the principal has one of ``roles``."""
    if principal.role not in roles:
        raise Problem.forbidden(
            f"角色 {principal.role} 无权执行此操作 / role {principal.role} may not do this"
        )
    return principal


async def staff_principal(request: Request) -> Principal:
    """Staff by ``Authorization: Bearer`` token (checked once per request by the guard)."""
    from jiesu_common.access import authenticate  # the guard builds on this module

    principal = await authenticate(request)
    if principal.is_app:
        raise Problem.forbidden("此接口仅限工作人员 / staff only")
    return principal


Staff = Annotated[Principal, Depends(staff_principal)]
