"""Webhooks' service layer: subscribe, look, unsubscribe, redeliver."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from jiesu_common.auth import Principal
from jiesu_common.http import Problem
from jiesu_department.webhooks import rules
from jiesu_department.webhooks.repository import wake_workers
from jiesu_department.webhooks.schemas import SubscriptionCreate
from jiesu_department.webhooks.targets import TargetRefused, check_target

if TYPE_CHECKING:
    from jiesu_department.handlers import DepartmentUnitOfWork

log = logging.getLogger(__name__)
MAX_PER_UNIT = 20


def unit_for(principal: Principal, asked: str | None) -> str:
    """Unit staff subscribe for their own unit; an admin names the unit."""
    if principal.role == "unit_staff":
        assert principal.unit_id is not None
        if asked is not None and asked != principal.unit_id:
            raise Problem.forbidden("只能为本单位订阅 / staff subscribe for their own unit only")
        return principal.unit_id
    if not asked:
        raise Problem.invalid("请指定 unit_id / unit_id is required for this role")
    return asked


async def checked_url(url: str, *, development: bool) -> str:
    """The target URL, if webhooks may go there; a 422 problem otherwise."""
    try:
        target = await check_target(url, development=development)
    except TargetRefused as refused:
        raise Problem(
            422,
            "webhook-target-refused",
            "目标地址不允许 / Target not allowed",
            str(refused),
        ) from refused
    return str(target.url)


async def create_subscription(
    *, body: SubscriptionCreate, principal: Principal, development: bool, uow: DepartmentUnitOfWork
) -> tuple[Any, str]:
    """Check the target, store the subscription with a new secret, commit; returns both."""
    unit_id = unit_for(principal, body.unit_id)
    url = await checked_url(body.url, development=development)
    if len(await uow.webhooks.subscriptions(unit_id)) >= MAX_PER_UNIT:
        raise Problem.conflict(
            "too-many-subscriptions",
            f"每个单位最多 {MAX_PER_UNIT} 个订阅 / at most {MAX_PER_UNIT} per unit",
        )
    secret = rules.new_secret()
    row = await uow.webhooks.add_subscription(
        {
            "subscription_id": uuid.uuid4(),
            "unit_id": unit_id,
            "url": url,
            "event_types": list(dict.fromkeys(body.event_types)),
            "description": body.description,
            "secret": secret,
            "created_by": principal.subject,
        }
    )
    await uow.commit()
    log.info("webhook subscribed", extra={"unit_id": unit_id})
    return row, secret


def may_manage(principal: Principal, unit_id: str) -> bool:
    """A unit's staff manage their unit's subscriptions; admins manage all."""
    if principal.role == "unit_staff":
        return principal.unit_id == unit_id
    return principal.role == "admin"


async def own_subscription(
    subscription_id: uuid.UUID, principal: Principal, uow: DepartmentUnitOfWork
) -> Any:
    """The subscription, if the caller may manage it; 404 otherwise (another unit's
    subscription does not exist for them)."""
    row = await uow.webhooks.subscription(subscription_id)
    if row is None or not may_manage(principal, row.unit_id):
        raise Problem.not_found(f"订阅 / subscription {subscription_id}")
    return row


async def delete_subscription(
    *, subscription_id: uuid.UUID, principal: Principal, uow: DepartmentUnitOfWork
) -> None:
    """Unsubscribe: the subscription goes with its queue and log."""
    await own_subscription(subscription_id, principal, uow)
    await uow.webhooks.delete_subscription(subscription_id)
    await uow.commit()


async def redeliver(
    *,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    principal: Principal,
    uow: DepartmentUnitOfWork,
) -> Any:
    """Send a delivery again now, same ``webhook-id``; a disabled subscription is enabled
    again (someone fixed the receiver). Returns the delivery."""
    subscription = await own_subscription(subscription_id, principal, uow)
    if await uow.webhooks.delivery(subscription_id, delivery_id) is None:
        raise Problem.not_found(f"投递 / delivery {delivery_id}")
    if subscription.status != "active":
        await uow.webhooks.reactivate(subscription_id)
    row = await uow.webhooks.make_due(delivery_id)
    await uow.commit()
    wake_workers()
    return row
