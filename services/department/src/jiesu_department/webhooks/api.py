"""HTTP routes of units' webhook subscriptions: subscribe, list, unsubscribe, the delivery
log and redelivery. A unit's staff manage their own unit's; admins any unit's."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from jiesu_common.access import GuardedRoute, access
from jiesu_common.http import Problem, decode_cursor, next_cursor
from jiesu_department.api import Caller, State
from jiesu_department.webhooks import handlers
from jiesu_department.webhooks.schemas import (
    DeliveryPage,
    DeliveryRead,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPage,
    SubscriptionRead,
    delivery_read,
    subscription_read,
)

router = APIRouter(route_class=GuardedRoute, tags=["webhooks"])
MANAGE_ACCESS = access("unit_staff", "admin")


@router.post(
    "/v1/subscriptions",
    openapi_extra=MANAGE_ACCESS,
    status_code=201,
    response_model=SubscriptionCreated,
)
async def subscribe(
    body: SubscriptionCreate, principal: Caller, state: State
) -> SubscriptionCreated:
    """Subscribe a URL to events of the unit's cases (Standard Webhooks).

    The answer carries the signing secret (``whsec_…``) this once: keep it to verify the
    ``webhook-signature`` of each delivery. Targets must be https with a public address.
    """
    async with state.uow() as uow:
        row, secret = await handlers.create_subscription(
            body=body,
            principal=principal,
            development=state.settings.auth.development,
            uow=uow,
        )
    return SubscriptionCreated(**subscription_read(row).model_dump(), secret=secret)


@router.get("/v1/subscriptions", openapi_extra=MANAGE_ACCESS, response_model=SubscriptionPage)
async def list_subscriptions(
    principal: Caller, state: State, unit_id: str | None = None
) -> SubscriptionPage:
    """The unit's subscriptions (an admin: of ``unit_id``, or every unit's)."""
    if principal.role == "unit_staff":
        unit_id = principal.unit_id
    async with state.uow() as uow:
        rows = await uow.webhooks.subscriptions(unit_id)
    return SubscriptionPage(items=[subscription_read(r) for r in rows], next=None)


@router.get(
    "/v1/subscriptions/{subscription_id}",
    openapi_extra=MANAGE_ACCESS,
    response_model=SubscriptionRead,
)
async def get_subscription(
    subscription_id: uuid.UUID, principal: Caller, state: State
) -> SubscriptionRead:
    """One subscription (404 for another unit's)."""
    async with state.uow() as uow:
        row = await handlers.own_subscription(subscription_id, principal, uow)
    return subscription_read(row)


@router.delete("/v1/subscriptions/{subscription_id}", openapi_extra=MANAGE_ACCESS, status_code=204)
async def unsubscribe(subscription_id: uuid.UUID, principal: Caller, state: State) -> Response:
    """Unsubscribe: nothing more is sent; the delivery log goes with it."""
    async with state.uow() as uow:
        await handlers.delete_subscription(
            subscription_id=subscription_id, principal=principal, uow=uow
        )
    return Response(status_code=204)


@router.get(
    "/v1/subscriptions/{subscription_id}/deliveries",
    openapi_extra=MANAGE_ACCESS,
    response_model=DeliveryPage,
)
async def list_deliveries(
    subscription_id: uuid.UUID,
    principal: Caller,
    state: State,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryPage:
    """The delivery log: each event sent to the subscription, newest first, with its
    attempts (status code or error, time taken)."""
    before = decode_cursor(cursor)
    async with state.uow() as uow:
        await handlers.own_subscription(subscription_id, principal, uow)
        rows = await uow.webhooks.deliveries(subscription_id, before=before, limit=limit)
        attempts = await uow.webhooks.attempts([r.delivery_id for r in rows[:limit]])
    items = [delivery_read(r, attempts[r.delivery_id]) for r in rows[:limit]]
    nxt = next_cursor(rows, limit, "created_at", "delivery_id")
    return DeliveryPage(items=items, next=nxt)


@router.post(
    "/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/redeliver",
    openapi_extra=MANAGE_ACCESS,
    status_code=202,
    response_model=DeliveryRead,
)
async def redeliver(
    subscription_id: uuid.UUID, delivery_id: uuid.UUID, principal: Caller, state: State
) -> DeliveryRead:
    """Send a delivery again now, with the same ``webhook-id`` (receivers de-duplicate on
    it); re-enables a subscription that was disabled after repeated failures."""
    async with state.uow() as uow:
        row = await handlers.redeliver(
            subscription_id=subscription_id,
            delivery_id=delivery_id,
            principal=principal,
            uow=uow,
        )
    if row is None:
        raise Problem.not_found(f"投递 / delivery {delivery_id}")
    return delivery_read(row, [])
