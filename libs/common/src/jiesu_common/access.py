"""Who may call each route, checked before the request is read or validated.

Every route of a service's API declares its callers with ``access(...)`` (kept in the
OpenAPI document as ``x-jiesu-access``, so the authorisation matrix is generated from it).
``GuardedRoute`` authenticates the caller and checks that declaration before FastAPI reads
the body or validates a parameter: a caller without the role gets 401/403, never a 422
that describes the body's schema. Unknown query parameters are refused (400) rather than
silently ignored. Repeated authentication failures from one client address are throttled.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from jiesu_common.auth import Principal, bearer_token
from jiesu_common.http import Problem
from jiesu_common.identity import verifier_for

ACCESS_KEY = "x-jiesu-access"
PRINCIPAL_SCOPE_KEY = "jiesu.principal"
# Every person's role: routes open to any signed-in staff member say ``access(*STAFF)``.
STAFF = ("operator", "dispatcher", "unit_staff", "reviewer", "supervisor", "admin")

AppAuthenticator = Callable[[Request, str], Awaitable[Principal]]


def access(
    *roles: str, apps: bool = False, services: Sequence[str] = (), public: bool = False
) -> dict[str, Any]:
    """``openapi_extra`` naming a route's callers: people's roles, third-party apps (by API
    key), and the Jiesu services (by their own identity) that may call it."""
    return {
        ACCESS_KEY: {
            "roles": list(roles),
            "apps": apps,
            "services": list(services),
            "public": public,
        }
    }


@dataclass(frozen=True)
class Policy:
    """A route's declared callers."""

    roles: tuple[str, ...] = ()
    apps: bool = False
    services: tuple[str, ...] = ()
    public: bool = False

    @classmethod
    def of(cls, declared: dict[str, Any]) -> Policy:
        """The policy of an ``x-jiesu-access`` declaration."""
        return cls(
            roles=tuple(declared.get("roles", ())),
            apps=bool(declared.get("apps", False)),
            services=tuple(declared.get("services", ())),
            public=bool(declared.get("public", False)),
        )

    def admit(self, principal: Principal) -> None:
        """Raise 403 unless the principal is one of the declared callers."""
        if principal.is_app:
            allowed = self.apps
        elif principal.service is not None:
            allowed = principal.service in self.services
        else:
            allowed = principal.role in self.roles
        if not allowed:
            who = principal.service or principal.app_id or principal.role
            raise Problem.forbidden(f"{who} 无权调用此接口 / {who} may not call this route")


class AuthThrottle:
    """Refuses (429) a client address after repeated authentication failures.

    In process, per address: ``limit`` failures within ``window_s`` block the address for
    ``block_s``. Credentials that authenticated recently still pass while it is blocked,
    so staff behind the same address (a call centre's NAT) keep working.
    """

    def __init__(self, *, limit: int = 20, window_s: float = 60.0, block_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self.block_s = block_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked: dict[str, float] = {}
        self._good: OrderedDict[str, float] = OrderedDict()
        self._max_entries = 10_000

    def check(self, address: str, credential: str) -> None:
        """Raise 429 when the address is blocked and the credential is not known good."""
        until = self._blocked.get(address)
        if until is None:
            return
        now = time.monotonic()
        if now >= until:
            del self._blocked[address]
            return
        if _digest(credential) in self._good:
            return
        raise Problem(
            429,
            "too-many-auth-failures",
            "认证失败次数过多，请稍后再试 / Too many failed sign-ins, retry later",
            headers={"Retry-After": str(max(1, int(until - now + 0.999)))},
        )

    def failed(self, address: str) -> None:
        """Count one authentication failure of the address."""
        now = time.monotonic()
        failures = self._failures.pop(address, None) or deque()
        failures.append(now)
        while failures and failures[0] < now - self.window_s:
            failures.popleft()
        self._failures[address] = failures
        if len(self._failures) > self._max_entries:
            self._failures.popitem(last=False)
        if len(failures) >= self.limit:
            self._blocked[address] = now + self.block_s
            failures.clear()

    def succeeded(self, credential: str) -> None:
        """Remember a credential that authenticated (it passes a blocked address)."""
        digest = _digest(credential)
        self._good.pop(digest, None)
        self._good[digest] = time.monotonic()
        if len(self._good) > self._max_entries:
            self._good.popitem(last=False)


def _digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def throttle_of(request: Request) -> AuthThrottle:
    """The app's throttle (one per process, made on first use)."""
    throttle: AuthThrottle | None = getattr(request.app.state, "auth_throttle", None)
    if throttle is None:
        throttle = request.app.state.auth_throttle = AuthThrottle()
    return throttle


async def authenticate(request: Request, *, apps: bool = False) -> Principal:
    """The caller by bearer token or ``X-API-Key``; else 401 (``apps``: say a key would do).

    Cached on the request, so route dependencies reuse it instead of checking again.
    """
    cached: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    key = None if header else request.headers.get("x-api-key")
    credential = header or key
    if not credential:
        detail = (
            "需要 Bearer 令牌或 X-API-Key / credentials required"
            if apps
            else ("需要 Bearer 令牌 / a Bearer token is required")
        )
        raise Problem.unauthorized(detail)
    throttle = throttle_of(request)
    address = request.client.host if request.client else "unknown"
    throttle.check(address, credential)
    try:
        principal = await _verify(request, header, key)
    except Problem as problem:
        if problem.status == 401:
            throttle.failed(address)
        raise
    throttle.succeeded(credential)
    request.scope[PRINCIPAL_SCOPE_KEY] = principal
    return principal


async def _verify(request: Request, header: str | None, key: str | None) -> Principal:
    if header:
        token = bearer_token(request)
        assert token is not None
        return await verifier_for(request.app.state.auth_settings).verify_async(token)
    assert key is not None
    authenticator: AppAuthenticator | None = getattr(request.app.state, "app_authenticator", None)
    if authenticator is None:
        raise Problem.unauthorized("此服务不接受 API 密钥 / API keys are not accepted here")
    return await authenticator(request, key)


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
_PROBLEMS = {
    400: "请求无效 / bad request (e.g. an unknown query parameter)",
    401: "未认证 / no or bad credentials",
    403: "无权限 / the caller may not do this",
    404: "未找到 / absent, or not visible to this caller",
    409: "状态冲突 / the request clashes with the current state",
    422: "请求内容无效 / invalid parameters or body",
    429: "过于频繁 / too many failed sign-ins or requests (see Retry-After)",
    503: "暂不可用 / temporarily unavailable (see Retry-After)",
}
# Every guarded route documents its RFC 9457 answers (so clients and fuzzers know them).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "description": text,
        "content": {"application/problem+json": {"schema": _PROBLEM_SCHEMA}},
        **({"headers": _RETRY_AFTER} if code in (429, 503) else {}),
    }
    for code, text in _PROBLEMS.items()
}


class GuardedRoute(APIRoute):
    """A route that checks its declared callers before its request is validated.

    Use as ``APIRouter(route_class=GuardedRoute)``; every route must declare ``access``.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["responses"] = {**PROBLEM_RESPONSES, **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler behind the access check and the query-parameter check."""
        # Called by APIRoute.__init__ once the dependant is built.
        declared = (self.openapi_extra or {}).get(ACCESS_KEY)
        if declared is None:
            raise ValueError(f"route {self.path} must declare its callers with access(...)")
        policy = self.policy = Policy.of(declared)
        known = self.query_names = _query_names(self.dependant)
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            if not policy.public:
                principal = await authenticate(request, apps=policy.apps)
                policy.admit(principal)
            unknown = sorted({k for k in request.query_params if k not in known})
            if unknown:
                raise Problem(
                    400,
                    "unknown-parameter",
                    "未知的查询参数 / Unknown query parameter",
                    f"此接口不接受参数 / this route does not take: {', '.join(unknown)}",
                    parameters=unknown,
                )
            return await handler(request)

        return guarded


def _query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route takes, its dependencies' included."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        names.update(p.alias for p in current.query_params)
        stack.extend(current.dependencies)
    return frozenset(names)
