"""console's factory: the app, its upstream client, security headers and error pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from jiesu_common.http import create_service_app
from jiesu_console import dispatch_desk, hotspot_case, knowledge_desk, review_desk, unit_desk
from jiesu_console.session import NotAllowed, SignInRequired, current_user
from jiesu_console.settings import ConsoleSettings
from jiesu_console.signin import router as signin_router
from jiesu_console.upstream import DirectoryCache, Upstream, UpstreamError
from jiesu_console.views import render
from jiesu_console.views import router as views_router

STATIC = Path(__file__).parent / "static"
# Scripts from the console's own origin only: no inline script, no eval, no CDN.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    """The console: pages, fragments, exports, the live stream and the pinned assets."""
    settings = settings if settings is not None else ConsoleSettings()
    upstream = Upstream(settings.upstream)

    async def readiness() -> dict[str, bool]:
        # Ready when the two services every page needs answer; the pages say which failed.
        checks = {}
        for service in ("metrics", "dispatch"):
            try:
                answer = await upstream.client.get(upstream.url(service, "/healthz"), timeout=3)
                checks[service] = answer.status_code == 200
            except httpx.HTTPError:
                checks[service] = False
        return checks

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await upstream.close()

    app = create_service_app(
        title="Jiesu console 网页端",
        description="监督考核驾驶舱 and the pages for people, rendered from the services' APIs.",
        auth=settings.auth,
        readiness=readiness,
        lifespan=lifespan,
        router=signin_router,
        csp=CSP,
        referrer_policy="same-origin",
    )
    app.include_router(views_router)
    app.include_router(unit_desk.router)
    app.include_router(dispatch_desk.router)
    app.include_router(review_desk.router)
    app.include_router(knowledge_desk.router)
    app.include_router(hotspot_case.router)
    app.state.console_settings = settings
    app.state.upstream = upstream
    app.state.directory = DirectoryCache(upstream, settings.directory_cache_s)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _install_pages(app)
    return app


def same_origin(request: Request) -> bool:
    """A form post from the console's own pages (CSRF). A browser says where a post comes
    from (``Sec-Fetch-Site``, else ``Origin``); whatever authenticates it — the session
    cookie, or a proxy in front that adds the token — another site's post is refused.
    A client that sends neither header is not a browser, so nobody's session rides on it."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return True
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("x-forwarded-host") or request.headers.get("host")
    return origin != "null" and urlsplit(origin).netloc == host


def _install_pages(app: FastAPI) -> None:
    @app.middleware("http")
    async def forgery(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not same_origin(request):
            return Response(
                "跨站请求已拒绝 / cross-site form post refused",
                status_code=403,
                media_type="text/plain",
            )
        return await call_next(request)

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # The security headers (the pages' CSP included) come from create_service_app.
        response = await call_next(request)
        if request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    async def sign_in(request: Request, exc: Exception) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotAllowed)
        return render(request, "forbidden.html", status=403, user=exc.user)

    async def upstream_failed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UpstreamError)
        if exc.status == 401:
            return await sign_in(request, exc)
        if exc.status in (403, 404) or _bad_path(exc):
            user = await current_user(request)
            if user is not None and exc.status == 403:
                return render(request, "forbidden.html", status=403, user=user)
            if user is not None:
                return render(request, "not_found.html", status=404, user=user, error=exc)
        return render(request, "fragments/error.html", status=502, error=exc)

    def _bad_path(exc: UpstreamError) -> bool:
        # A malformed id in the page's address (the service refused its path parameter):
        # there is no such record, not a failed service.
        errors = exc.problem.get("errors") if exc.status == 422 else None
        return isinstance(errors, list) and any(
            isinstance(e, dict) and (e.get("loc") or [None])[0] == "path" for e in errors
        )

    async def unreachable(request: Request, exc: Exception) -> Response:
        error = UpstreamError("?", 503, f"服务暂不可达 / a service is unreachable: {exc!r}")
        return render(request, "fragments/error.html", status=502, error=error)

    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(NotAllowed, refused)
    app.add_exception_handler(UpstreamError, upstream_failed)
    app.add_exception_handler(httpx.HTTPError, unreachable)
