"""Routes for other Jiesu services only (role ``service``), never for people or apps."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from jiesu_common.access import GuardedRoute, access
from jiesu_common.auth import Principal, Staff, require_roles
from jiesu_common.http import Problem
from jiesu_intake.state import IntakeState

router = APIRouter(prefix="/internal/v1", tags=["internal"], route_class=GuardedRoute)
# Only the services whose staff must call a resident back may read the number.
CALLER_ACCESS = access(services=("department", "review"))
log = logging.getLogger(__name__)


class CallerContact(BaseModel):
    """A resident's contact details, decrypted for one audited reveal."""

    complaint_id: uuid.UUID
    name: str | None
    phone: str | None
    anonymous: bool
    confidential: bool


async def service_principal(principal: Staff) -> Principal:
    """Only another Jiesu service's token passes (which ones: the route's ``access``)."""
    return require_roles(principal, "service")


@router.get(
    "/complaints/{complaint_id}/caller", openapi_extra=CALLER_ACCESS, response_model=CallerContact
)
async def caller_contact(
    complaint_id: uuid.UUID,
    request: Request,
    principal: Annotated[Principal, Depends(service_principal)],
) -> CallerContact:
    """Decrypt a complaint's caller for department-response's audited reveal."""
    state: IntakeState = request.app.state.intake
    async with state.uow() as uow:
        row = await uow.complaints.get(complaint_id)
    if row is None:
        raise Problem.not_found(f"诉求 / complaint {complaint_id}")
    context = complaint_id.bytes
    # The reveal is audited by the caller; intake logs who asked as well.
    purpose = request.headers.get("x-jiesu-purpose", "")[:200]
    log.info(
        "caller revealed",
        extra={"complaint_id": str(complaint_id), "by": principal.subject, "purpose": purpose},
    )
    return CallerContact(
        complaint_id=complaint_id,
        name=None if row.anonymous else state.vault.decrypt(row.caller_name_enc, context=context),
        phone=None if row.anonymous else state.vault.decrypt(row.caller_phone_enc, context=context),
        anonymous=row.anonymous,
        confidential=row.confidential,
    )
