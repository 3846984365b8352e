"""Fetching a resident's contact details from intake, which alone holds them (encrypted).

Units (to handle a case) and reviewers (to call back) see the number only through their
own service's audited route, which asks intake with that service's own identity (intake
lets only department-response and callback-review read a number).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

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
