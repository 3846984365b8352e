"""Who is signed in: a verified JWT from the session cookie or an identity proxy's header."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from jiesu_common.auth import Principal, mint_token
from jiesu_common.http import Problem
from jiesu_common.identity import verifier_for
from jiesu_console.settings import ConsoleSettings

COOKIE = "jiesu_console_session"
DASHBOARD_ROLES = ("supervisor", "admin")
DISPATCH_ROLES = ("dispatcher", "admin")
REVIEW_ROLES = ("reviewer", "admin")
# Where each role lands after signing in (its desk).
HOME_OF = {
    "supervisor": "/dashboard",
    "admin": "/dashboard",
    "dispatcher": "/dispatch",
    "unit_staff": "/unit",
    "reviewer": "/review",
    "operator": "/knowledge",
}
DESK_NAMES = {
    "/dashboard": "监督考核驾驶舱",
    "/dispatch": "派单台",
    "/unit": "单位工作台",
    "/review": "回访台",
    "/knowledge": "知识库直办",
}
ROLE_NAMES = {
    "supervisor": "督查考核（supervisor）",
    "admin": "系统管理员（admin）",
    "dispatcher": "派单员（dispatcher）",
    "operator": "话务员（operator）",
    "reviewer": "回访员（reviewer）",
    "unit_staff": "承办单位人员（unit_staff）",
}


@dataclass(frozen=True)
class User:
    """The signed-in person and the token every upstream call carries."""

    principal: Principal
    token: str

    @property
    def may_see_dashboard(self) -> bool:
        """Supervisors and admins see the whole city's dashboard."""
        return self.principal.role in DASHBOARD_ROLES


class SignInRequired(Exception):
    """No valid token: the person is sent to the sign-in page."""


class NotAllowed(Exception):
    """Signed in, but this page is not for the person's role."""

    def __init__(self, user: User) -> None:
        super().__init__(user.principal.role)
        self.user = user


def settings_of(request: Request) -> ConsoleSettings:
    """The console's settings."""
    settings: ConsoleSettings = request.app.state.console_settings
    return settings


async def current_user(request: Request) -> User | None:
    """The person behind the request, or None (an expired or forged token counts as none).

    Async: a provider's token may need its keys fetched, which must not block the event loop
    (``verify_async`` does that in a thread; development tokens are checked inline).
    """
    settings = settings_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    try:
        # Development tokens in development mode, the provider's access tokens in production.
        principal = await verifier_for(settings.auth).verify_async(token.strip())
        return User(principal, token.strip())
    except Problem:
        return None


async def signed_in(request: Request) -> User:
    """The signed-in person; otherwise off to the sign-in page."""
    user = await current_user(request)
    if user is None:
        raise SignInRequired
    return user


async def supervisor(user: Annotated[User, Depends(signed_in)]) -> User:
    """A supervisor or admin; anybody else is refused the dashboard."""
    if not user.may_see_dashboard:
        raise NotAllowed(user)
    return user


async def dispatcher(user: Annotated[User, Depends(signed_in)]) -> User:
    """A dispatcher (or an admin): the dispatch centre's desk."""
    if user.principal.role not in DISPATCH_ROLES:
        raise NotAllowed(user)
    return user


async def unit_staff(user: Annotated[User, Depends(signed_in)]) -> User:
    """A unit's member of staff: the unit's own workbench, nobody else's."""
    if user.principal.role != "unit_staff" or not user.principal.unit_id:
        raise NotAllowed(user)
    return user


async def reviewer(user: Annotated[User, Depends(signed_in)]) -> User:
    """A callback operator (or an admin): the callback desk."""
    if user.principal.role not in REVIEW_ROLES:
        raise NotAllowed(user)
    return user


def desks_of(role: str) -> list[tuple[str, str]]:
    """The desks a role may open, as (path, name), for the side bar."""
    paths = {
        "supervisor": ["/dashboard"],
        "admin": ["/dashboard", "/dispatch", "/review", "/knowledge"],
        "dispatcher": ["/dispatch"],
        "unit_staff": ["/unit", "/knowledge"],
        "reviewer": ["/review"],
        "operator": ["/knowledge"],
    }.get(role, [])
    return [(p, DESK_NAMES[p]) for p in paths]


SignedIn = Annotated[User, Depends(signed_in)]
Supervisor = Annotated[User, Depends(supervisor)]
Dispatcher = Annotated[User, Depends(dispatcher)]
UnitStaff = Annotated[User, Depends(unit_staff)]
Reviewer = Annotated[User, Depends(reviewer)]


def dev_token(settings: ConsoleSettings, role: str, unit_id: str | None) -> str:
    """A development token for the sign-in page (``dev_login`` only)."""
    return mint_token(
        settings.auth,
        role=role,
        unit_id=unit_id if role == "unit_staff" else None,
        subject=f"console-dev:{role}:{unit_id}" if unit_id else f"console-dev:{role}",
        ttl=timedelta(hours=settings.session_hours),
    )
