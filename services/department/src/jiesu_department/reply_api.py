"""HTTP routes of reply templates (答复模板): a unit keeps its own, per category; a case's
draft reply is a template filled from the case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response

from jiesu_common.access import GuardedRoute, access
from jiesu_common.auth import Principal, require_roles
from jiesu_common.http import Problem
from jiesu_department import handlers, replies
from jiesu_department.api import READ_ACCESS, READ_ROLES, Caller, State, _unit_of
from jiesu_department.schemas import ReplyDraft, TemplateCreate, TemplatePage, TemplateRead

router = APIRouter(route_class=GuardedRoute, tags=["reply templates"])
UNIT_ACCESS = access("unit_staff")


@router.get("/v1/reply-templates", openapi_extra=READ_ACCESS, response_model=TemplatePage)
async def list_templates(
    principal: Caller,
    state: State,
    category_code: str | None = None,
    unit_id: str | None = None,
) -> TemplatePage:
    """The unit's reply templates (of ``category_code``: its own and those for every category)."""
    unit = _unit_of(principal, unit_id)
    async with state.uow() as uow:
        rows = await uow.cases.templates(unit_id=unit, category_code=category_code)
    return TemplatePage(items=[TemplateRead.model_validate(r._mapping) for r in rows], next=None)


@router.post(
    "/v1/reply-templates", openapi_extra=UNIT_ACCESS, status_code=201, response_model=TemplateRead
)
async def create_template(body: TemplateCreate, principal: Caller, state: State) -> TemplateRead:
    """A new template for the unit. Placeholders: ``{ticket_no}``, ``{title}``, ``{content}``,
    ``{address}``, ``{received_date}``, ``{category_code}``, ``{unit_id}``."""
    return await _save(uuid.uuid4(), body, principal, state, new=True)


@router.put(
    "/v1/reply-templates/{template_id}", openapi_extra=UNIT_ACCESS, response_model=TemplateRead
)
async def replace_template(
    template_id: uuid.UUID, body: TemplateCreate, principal: Caller, state: State
) -> TemplateRead:
    """Change one of the unit's templates."""
    return await _save(template_id, body, principal, state, new=False)


@router.delete("/v1/reply-templates/{template_id}", openapi_extra=UNIT_ACCESS, status_code=204)
async def delete_template(template_id: uuid.UUID, principal: Caller, state: State) -> Response:
    """Remove one of the unit's templates."""
    require_roles(principal, "unit_staff")
    async with state.uow() as uow:
        await _own_template(template_id, principal, uow)
        await uow.cases.delete_template(template_id)
        await uow.commit()
    return Response(status_code=204)


@router.get("/v1/cases/{case_id}/reply-draft", openapi_extra=READ_ACCESS, response_model=ReplyDraft)
async def reply_draft(
    case_id: uuid.UUID, principal: Caller, state: State, template_id: uuid.UUID | None = None
) -> ReplyDraft:
    """The case's reply drafted from one of its unit's templates, placeholders filled
    (without ``template_id``: the first of the case's category, else a general one)."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        case = await handlers.own_case(case_id, principal, uow)
        if template_id is None:
            found = await uow.cases.templates(
                unit_id=case.unit_id, category_code=case.category_code
            )
            template = found[0] if found else None
        else:
            template = await uow.cases.template(template_id)
    if template is None or template.unit_id != case.unit_id:
        raise Problem.not_found(f"答复模板 / template {template_id or case.category_code}")
    reply = replies.fill(template.body, replies.case_values(case))
    return ReplyDraft(
        case_id=case_id, template_id=template.template_id, title=template.title, reply=reply
    )


async def _save(
    template_id: uuid.UUID, body: TemplateCreate, principal: Principal, state: Any, *, new: bool
) -> TemplateRead:
    require_roles(principal, "unit_staff")
    try:
        unknown = replies.unknown_placeholders(body.body)
    except ValueError as exc:
        raise Problem.invalid(f"模板花括号不匹配 / unbalanced braces: {exc}") from exc
    if unknown:
        allowed = ", ".join(replies.PLACEHOLDERS)
        raise Problem.invalid(
            f"未知占位符 / unknown placeholder(s): {', '.join(unknown)} (allowed: {allowed})"
        )
    async with state.uow() as uow:
        if not new:
            await _own_template(template_id, principal, uow)
        row = await uow.cases.save_template(
            {
                "template_id": template_id,
                "unit_id": principal.unit_id,
                "category_code": body.category_code,
                "title": body.title,
                "body": body.body,
                "updated_by": principal.subject,
                "updated_at": datetime.now(UTC),
            }
        )
        await uow.commit()
    return TemplateRead.model_validate(row._mapping)


async def _own_template(template_id: uuid.UUID, principal: Principal, uow: Any) -> Any:
    template = await uow.cases.template(template_id)
    if template is None or template.unit_id != principal.unit_id:
        raise Problem.not_found(f"答复模板 / template {template_id}")
    return template
