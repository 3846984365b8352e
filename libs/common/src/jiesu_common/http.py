"""HTTP plumbing shared by the services: RFC 9457 problems, health, metrics, the app shell."""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jiesu_common.docs import install_docs
from jiesu_common.logging import correlation_id_var
from jiesu_common.messaging.consumer import is_transient
from jiesu_common.observability import HTTP_REQUESTS
from jiesu_common.settings import AuthSettings

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://jiesu.dev/problems/"
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An RFC 9457 problem; ``type`` is stable per error so clients can branch on it."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.type = PROBLEM_BASE + slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document."""
        doc: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        doc.update(self.extensions)
        return doc

    @classmethod
    def unauthorized(cls, detail: str) -> Problem:
        """401: missing or bad credentials."""
        return cls(
            401,
            "unauthorized",
            "未认证 / Unauthorized",
            detail,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @classmethod
    def forbidden(cls, detail: str) -> Problem:
        """403: authenticated but not allowed."""
        return cls(403, "forbidden", "无权限 / Forbidden", detail)

    @classmethod
    def not_found(cls, what: str) -> Problem:
        """404: absent, or not visible to this caller."""
        return cls(404, "not-found", "未找到 / Not found", f"{what} 不存在 / does not exist")

    @classmethod
    def conflict(cls, slug: str, detail: str) -> Problem:
        """409: the request clashes with the current state."""
        return cls(409, slug, "状态冲突 / Conflict", detail)

    @classmethod
    def invalid(cls, detail: str, errors: list[dict[str, Any]] | None = None) -> Problem:
        """422: the body is well-formed but its content is wrong."""
        return cls(
            422,
            "validation-error",
            "请求内容无效 / Invalid request",
            detail,
            errors=errors or [],
        )


def problem_response(problem: Problem, request: Request) -> Response:
    """Render a problem as ``application/problem+json``."""
    return JSONResponse(
        problem.body(str(request.url.path)),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


ProblemRenderer = Callable[[Problem, Request], Response]


def _renderer_for(request: Request) -> ProblemRenderer:
    # Some path prefixes speak another standard's error format (e.g. Open311's errors).
    renderers: dict[str, ProblemRenderer] = getattr(request.app.state, "problem_renderers", {})
    path = request.url.path
    for prefix, renderer in renderers.items():
        if path.startswith(prefix):
            return renderer
    return problem_response


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


def install_problem_handlers(
    app: FastAPI, renderers: Mapping[str, ProblemRenderer] | None = None
) -> None:
    """Every error leaves as problem+json, including FastAPI's own 404/405/422.

    ``renderers`` maps a path prefix to another error format for the routes under it.
    """
    app.state.problem_renderers = dict(renderers or {})

    def render(problem: Problem, request: Request) -> Response:
        return _renderer_for(request)(problem, request)

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return render(exc, request)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return render(Problem.invalid(summary, errors), request)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return render(
            Problem(exc.status_code, slug, str(exc.detail), headers=dict(exc.headers or {})),
            request,
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        if is_transient(exc):
            # The database (or a connection to it) went away mid-request: nothing was
            # committed; the pool has dropped the connection, so a retry gets a fresh one.
            log.warning("transient failure on %s %s: %r", request.method, request.url.path, exc)
            return render(
                Problem(
                    503,
                    "service-unavailable",
                    "服务暂时不可用，请稍后重试 / Temporarily unavailable, retry shortly",
                    headers={"Retry-After": "1"},
                ),
                request,
            )
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return render(
            Problem(500, "internal-error", "服务器内部错误 / Internal server error"), request
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
MIN_SECRET_LENGTH = 32


def install_health(app: FastAPI, readiness: ReadinessCheck) -> None:
    """``/healthz`` (process alive), ``/readyz`` (dependencies), ``/metrics`` (Prometheus)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        checks = await readiness()
        missing = [name for name, ok in checks.items() if not ok]
        return JSONResponse(
            {"status": "unavailable" if missing else "ok", "checks": checks, "missing": missing},
            status_code=503 if missing else 200,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(MeasureRequests)


class MeasureRequests:
    """Latency per route and status, and one correlation id per request (pure ASGI).

    The id (the caller's ``X-Correlation-ID``, else a new one) follows the request onto the
    events it causes and into every log line, and is echoed in the answer. Pure ASGI
    rather than ``BaseHTTPMiddleware``: no extra task, no response re-wrapping per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        correlation_id = _header(scope, b"x-correlation-id") or str(uuid.uuid4())
        correlation_id = correlation_id[:128]
        echoed = (b"x-correlation-id", correlation_id.encode("latin-1", "replace"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        token = correlation_id_var.set(correlation_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            correlation_id_var.reset(token)
            route = scope.get("route")
            HTTP_REQUESTS.labels(
                scope["method"], getattr(route, "path", "unmatched"), str(status)
            ).observe(time.perf_counter() - started)


# An API answer is data, never a page: it may load nothing and be framed nowhere.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


class SecurityHeaders:
    """``nosniff``, a referrer policy and a Content-Security-Policy on every answer (pure ASGI).

    A header the route set itself (the docs pages' and the console's own CSP) is kept.
    """

    def __init__(
        self, app: ASGIApp, csp: str = API_CSP, referrer_policy: str = "no-referrer"
    ) -> None:
        self.app = app
        self.defaults = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", referrer_policy.encode()),
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {key.lower() for key, _ in headers}
                headers.extend(kv for kv in self.defaults if kv[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def create_service_app(
    *,
    title: str,
    description: str,
    auth: AuthSettings,
    readiness: ReadinessCheck,
    lifespan: Lifespan,
    router: APIRouter,
    problem_renderers: Mapping[str, ProblemRenderer] | None = None,
    csp: str = API_CSP,
    referrer_policy: str = "no-referrer",
) -> FastAPI:
    """The FastAPI shell every service shares: problems, health, metrics, its routes.

    Every answer carries ``csp`` unless its route set its own (the docs pages do).

    Refuses to build in development mode with a missing or short JWT secret (an empty
    HMAC key would let anybody mint tokens), and in production without an OIDC issuer.
    """
    check_auth_settings(auth)
    app = FastAPI(
        title=title,
        version="1.0.0",
        description=description,
        lifespan=lifespan,
        # Our own Prometheus middleware measures requests; FastAPI's OpenTelemetry hook
        # would look up the tracer provider on every request for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Served by install_docs from the service's own assets (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    # Set on SIGTERM by the service CLI: streaming routes end so shutdown stays quick.
    app.state.draining = False
    app.state.auth_settings = auth
    install_problem_handlers(app, problem_renderers)
    install_health(app, readiness)
    install_docs(app)
    app.add_middleware(SecurityHeaders, csp=csp, referrer_policy=referrer_policy)
    app.include_router(router)
    return app


def check_auth_settings(auth: AuthSettings) -> None:
    """Raise ValueError for settings that would accept forged or no tokens."""
    if not auth.development:
        if not auth.oidc_issuer:
            raise ValueError("production mode needs the OIDC issuer (…_AUTH__OIDC_ISSUER)")
        return
    if len(auth.jwt_secret.get_secret_value()) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"the JWT secret (…_AUTH__JWT_SECRET) must be set, at least {MIN_SECRET_LENGTH} "
            "characters long"
        )


def page(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    """The list shape every service answers: ``{"items": [...], "next": cursor|null}``."""
    return {"items": items, "next": next_cursor}


def encode_cursor(at: datetime, row_id: uuid.UUID) -> str:
    """An opaque keyset cursor for lists ordered by (time, id)."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode()


def parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (time, id) of a cursor from ``encode_cursor``; ValueError when malformed."""
    try:
        at, _, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc


def next_cursor(rows: list[Any], limit: int, at: str, key: str) -> str | None:
    """The cursor after a page fetched with ``limit + 1`` rows: its last row's (time, id),
    or None when that extra row did not come (no more pages)."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(getattr(last, at), getattr(last, key))


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """``parse_cursor`` for a query parameter: None when absent, a 422 problem when malformed."""
    if not cursor:
        return None
    try:
        return parse_cursor(cursor)
    except ValueError as exc:
        raise Problem.invalid("游标无效 / bad cursor") from exc
