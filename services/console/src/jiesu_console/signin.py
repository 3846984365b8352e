"""Signing in and out. In development a page picks a role or a unit (no passwords); in
production an OpenID Connect proxy in front of the console passes the person's token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jiesu_common.auth import mint_token
from jiesu_console.session import (
    COOKIE,
    HOME_OF,
    ROLE_NAMES,
    current_user,
    dev_token,
    settings_of,
)
from jiesu_console.upstream import Upstream
from jiesu_console.views import render

router = APIRouter(include_in_schema=False)
DEV_ROLES = ("supervisor", "admin", "dispatcher", "operator", "reviewer")


def dev_login_on(request: Request) -> bool:
    """The development sign-in works only in development mode (production refuses HS256)."""
    settings = settings_of(request)
    return settings.dev_login and settings.auth.development


@router.get("/", response_class=RedirectResponse)
async def home(request: Request) -> RedirectResponse:
    """Each role's desk is its first page (the dashboard for supervisors)."""
    user = await current_user(request)
    where = HOME_OF.get(user.principal.role, "/dashboard") if user else "/dashboard"
    return RedirectResponse(where, status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    """开发登录: pick a role, or a unit to act as its staff."""
    settings = settings_of(request)
    units: list[dict[str, str]] = []
    dev_login = dev_login_on(request)
    if dev_login:
        # Listing the units needs a token; in development the console signs its own.
        upstream: Upstream = request.app.state.upstream
        token = mint_token(settings.auth, role="admin", subject="console:login-page")
        try:
            units = (await upstream.get("dispatch", "/v1/units", token))["items"]
        except Exception:  # dispatch not up yet: roles still work
            units = []
    return render(
        request,
        "login.html",
        dev_login=dev_login,
        roles=[(r, ROLE_NAMES[r]) for r in DEV_ROLES],
        units=units,
        user=await current_user(request),
    )


@router.post("/login")
async def login(
    request: Request,
    role: Annotated[str, Form()],
    unit_id: Annotated[str | None, Form()] = None,
) -> Response:
    """Development sign-in: a token for the chosen role or unit, kept in a session cookie."""
    settings = settings_of(request)
    if not dev_login_on(request):
        return Response("开发登录未启用 / development sign-in is off", status_code=404)
    if role not in (*DEV_ROLES, "unit_staff") or (role == "unit_staff" and not unit_id):
        return Response("角色无效 / unknown role", status_code=422)
    token = dev_token(settings, role, unit_id)
    response = RedirectResponse(HOME_OF.get(role, "/dashboard"), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    """Forget the session."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
