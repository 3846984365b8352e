"""The learning loop's HTTP routes: the registry, aliases (admins), shadow results,
overturned rules and the misroute replay."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query

from jiesu_common.access import GuardedRoute, access
from jiesu_common.auth import require_roles
from jiesu_common.http import Problem
from jiesu_dispatch.api import Caller, State
from jiesu_dispatch.learning import service
from jiesu_dispatch.schemas import (
    AliasPut,
    AliasRead,
    MisrouteReplayRead,
    ModelVersionRead,
    ModelVersionsRead,
    RollbackCreate,
    RuleOverturnRead,
    RuleOverturnsRead,
    ServedRead,
    ShadowRead,
)

router = APIRouter(route_class=GuardedRoute)
READ_ROLES = ("admin", "supervisor", "dispatcher")
READ_ACCESS = access(*READ_ROLES)
ADMIN_ACCESS = access("admin")
Kind = Literal["category", "unit"]
PERIOD_PATTERN = r"^20\d{2}-(0[1-9]|1[0-2])$"
MAX_VERSION = 2**31 - 1


@router.get(
    "/v1/learning/{kind}/models",
    openapi_extra=READ_ACCESS,
    response_model=ModelVersionsRead,
    tags=["learning"],
)
async def list_models(kind: Kind, principal: Caller, state: State) -> ModelVersionsRead:
    """A model kind's registered versions, newest first, with the aliases they hold."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        rows = await uow.learning.versions(kind)
        aliases = await uow.learning.aliases(kind)
    items = [_version(r, aliases, with_report=False) for r in rows]
    return ModelVersionsRead(items=items)


@router.get(
    "/v1/learning/{kind}/models/{version}",
    openapi_extra=READ_ACCESS,
    response_model=ModelVersionRead,
    tags=["learning"],
)
async def get_model(
    kind: Kind, version: Annotated[int, Path(ge=1, le=MAX_VERSION)], principal: Caller, state: State
) -> ModelVersionRead:
    """One version with its evaluation report."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        row = await uow.learning.version(version)
        aliases = await uow.learning.aliases(kind)
    if row is None or row.kind != kind:
        raise Problem.not_found(f"模型版本 / {kind} model version {version}")
    return _version(row, aliases, with_report=True)


@router.put(
    "/v1/learning/{kind}/aliases/{alias}",
    openapi_extra=ADMIN_ACCESS,
    response_model=AliasRead,
    tags=["learning"],
)
async def put_alias(
    kind: Kind,
    alias: Literal["champion", "challenger"],
    body: AliasPut,
    principal: Caller,
    state: State,
) -> AliasRead:
    """Promote a version (move the alias); every dispatch replica switches on the
    announcement (model.promoted)."""
    require_roles(principal, "admin")
    async with state.uow() as uow:
        moved = await service.move_alias(
            uow, kind=kind, alias=alias, version=body.version, by=principal.subject, note=body.note
        )
        await uow.commit()
    await _switch(state)
    return AliasRead(**moved)


@router.delete(
    "/v1/learning/{kind}/aliases/{alias}",
    openapi_extra=ADMIN_ACCESS,
    response_model=AliasRead,
    tags=["learning"],
)
async def retire_alias(
    kind: Kind, alias: Literal["champion", "challenger"], principal: Caller, state: State
) -> AliasRead:
    """Stop serving an alias on every replica (without a category champion, the keyword
    classifier guesses again)."""
    require_roles(principal, "admin")
    async with state.uow() as uow:
        moved = await service.retire_alias(
            uow, kind=kind, alias=alias, by=principal.subject, note=None
        )
        await uow.commit()
    await _switch(state)
    return AliasRead(**moved)


@router.post(
    "/v1/learning/{kind}/aliases/champion/rollback",
    openapi_extra=ADMIN_ACCESS,
    response_model=AliasRead,
    tags=["learning"],
)
async def rollback_champion(
    kind: Kind, body: RollbackCreate, principal: Caller, state: State
) -> AliasRead:
    """Give the champion alias back to the version it held before its last change."""
    require_roles(principal, "admin")
    async with state.uow() as uow:
        moved = await service.rollback(uow, kind=kind, by=principal.subject, note=body.note)
        await uow.commit()
    await _switch(state)
    return AliasRead(**moved)


@router.get(
    "/v1/learning/served",
    openapi_extra=READ_ACCESS,
    response_model=ServedRead,
    tags=["learning"],
)
async def get_served(principal: Caller, state: State) -> ServedRead:
    """The versions this replica classifies and routes with now (held in memory)."""
    require_roles(principal, *READ_ROLES)
    models = state.dispatcher.models
    return ServedRead(
        replica=state.settings.replica(),
        category_champion=models.version("category", "champion"),
        category_challenger=models.version("category", "challenger"),
        unit_champion=models.version("unit", "champion"),
    )


@router.get(
    "/v1/learning/category/shadow",
    openapi_extra=READ_ACCESS,
    response_model=ShadowRead,
    tags=["learning"],
)
async def get_shadow(principal: Caller, state: State) -> ShadowRead:
    """The challenger's agreement with the champion and both accuracies so far."""
    require_roles(principal, *READ_ROLES)
    async with state.uow() as uow:
        out = await service.shadow_report(uow, models=state.dispatcher.models)
    return ShadowRead(**out)


@router.get(
    "/v1/learning/rule-overturns",
    openapi_extra=READ_ACCESS,
    response_model=RuleOverturnsRead,
    tags=["learning"],
)
async def get_rule_overturns(principal: Caller, state: State) -> RuleOverturnsRead:
    """Routing rules whose assignments the history keeps overturning (to review)."""
    require_roles(principal, *READ_ROLES)
    settings = state.settings
    async with state.uow() as uow:
        rows = await service.rule_overturns(
            uow,
            min_cases=settings.learning_overturn_min_cases,
            min_rate=settings.learning_overturn_min_rate,
        )
    return RuleOverturnsRead(items=[RuleOverturnRead(**r) for r in rows])


@router.get(
    "/v1/learning/misroute-replay",
    openapi_extra=READ_ACCESS,
    response_model=MisrouteReplayRead,
    tags=["learning"],
)
async def get_misroute_replay(
    principal: Caller,
    state: State,
    period: Annotated[str, Query(pattern=PERIOD_PATTERN, examples=["2026-11"])],
) -> MisrouteReplayRead:
    """Over the misroutes closed in a month (city time): would the current champions have
    routed them right?"""
    require_roles(principal, *READ_ROLES)
    zone = ZoneInfo(state.settings.timezone)
    year, month = (int(p) for p in period.split("-"))
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    async with state.uow() as uow:
        out = await service.misroute_replay(
            uow, models=state.dispatcher.models, start=start, end=end
        )
    return MisrouteReplayRead(period=period, **out)


async def _switch(state: State) -> None:
    # This replica switches at once; the others on the announcement.
    async with state.uow() as uow:
        await service.refresh_served(state.dispatcher.models, uow)


def _version(
    row: object, aliases: dict[tuple[str, str], int], *, with_report: bool
) -> ModelVersionRead:
    data = dict(row._mapping)  # type: ignore[attr-defined]
    held = [a for (_, a), v in aliases.items() if v == data["version"]]
    report = data.pop("report", None)
    return ModelVersionRead(**data, aliases=sorted(held), report=report if with_report else None)
