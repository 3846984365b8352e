"""Fetching a resident's contact details from intake, which alone holds them (encrypted)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from jiesu_common.auth import mint_token
from jiesu_common.http import Problem
from jiesu_department.settings import DepartmentSettings


async def fetch_caller(settings: DepartmentSettings, complaint_id: uuid.UUID, why: str) -> Any:
    """Ask intake for the caller of a complaint with a short-lived service token."""
    token = mint_token(
        settings.auth, role="service", subject=f"service:department:{why}", ttl=timedelta(minutes=1)
    )
    url = f"{settings.intake_url.rstrip('/')}/internal/v1/complaints/{complaint_id}/caller"
    try:
        async with httpx.AsyncClient(timeout=settings.intake_timeout_s) as client:
            response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise Problem(
            503, "intake-unavailable", "受理服务暂不可用 / intake is unavailable", repr(exc)
        ) from exc
    if response.status_code == 404:
        raise Problem.not_found(f"诉求人信息 / caller of complaint {complaint_id}")
    if response.status_code != 200:
        raise Problem(
            503,
            "intake-unavailable",
            "受理服务暂不可用 / intake is unavailable",
            f"intake answered {response.status_code}",
        )
    return response.json()
