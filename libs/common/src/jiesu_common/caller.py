"""The audited reveal of a resident's contact details, which intake alone holds (encrypted).

Units (to handle a case) and reviewers (to call back) see the number only through their
own service's audited route, which asks intake with that service's own identity (intake
lets only department-response and callback-review read a number) and records who saw it,
when and why. Both routes are this one piece; each service keeps its own audit table.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from jiesu_common.http import Problem
from jiesu_common.identity import credentials_for
from jiesu_common.settings import AuthSettings


async def fetch_caller(
    *,
    intake_url: str,
    auth: AuthSettings,
    service: str,
    complaint_id: uuid.UUID,
    purpose: str,
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """The caller of a complaint (name, phone, anonymous, confidential) from intake."""
    headers = await credentials_for(auth, service).headers()
    headers["X-Jiesu-Purpose"] = purpose
    url = f"{intake_url.rstrip('/')}/internal/v1/complaints/{complaint_id}/caller"
    unavailable = "受理服务暂不可用 / intake is unavailable"
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise Problem(503, "intake-unavailable", unavailable, repr(exc)) from exc
    if response.status_code == 404:
        raise Problem.not_found(f"诉求人信息 / caller of complaint {complaint_id}")
    if response.status_code != 200:
        raise Problem(
            503, "intake-unavailable", unavailable, f"intake answered {response.status_code}"
        )
    found: dict[str, Any] = response.json()
    return found


class RevealCreate(BaseModel):
    """Why the phone number is needed (kept in the audit)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str | None = Field(default=None, max_length=500)


class CallerContact(BaseModel):
    """The resident's contact details as revealed, and the reveal's audit stamp."""

    name: str | None
    phone: str | None
    anonymous: bool
    confidential: bool
    revealed_by: str
    revealed_at: datetime


class RevealAudit(BaseModel):
    """One audited reveal: who saw the number, why and when."""

    revealed_by: str
    reason: str | None
    revealed_at: datetime


async def reveal_caller(
    *,
    intake_url: str,
    auth: AuthSettings,
    service: str,
    complaint_id: uuid.UUID,
    purpose: str,
    revealed_by: str,
    record: Callable[[datetime], Awaitable[None]],
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """Ask intake for the caller, then ``record(revealed_at)`` the audit; the contact's fields.

    Intake is asked outside any transaction (no connection waits on it), and the number is
    returned only once the reveal is recorded.
    """
    caller = await fetch_caller(
        intake_url=intake_url,
        auth=auth,
        service=service,
        complaint_id=complaint_id,
        purpose=purpose,
        timeout_s=timeout_s,
    )
    revealed_at = datetime.now(UTC)
    await record(revealed_at)
    return CallerContact(
        name=caller.get("name"),
        phone=caller.get("phone"),
        anonymous=bool(caller.get("anonymous")),
        confidential=bool(caller.get("confidential")),
        revealed_by=revealed_by,
        revealed_at=revealed_at,
    ).model_dump()
