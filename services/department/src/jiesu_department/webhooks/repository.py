"""Webhooks' data access: subscriptions, the delivery queue and its attempts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from jiesu_common.db.sql import FastRepository, Row, row_or_none, to_json
from jiesu_department.schemas import case_read
from jiesu_department.webhooks import rules

# Delivery workers in this process, woken right after a local commit queued deliveries
# (every department process runs one; other replicas' rows are found by the idle poll).
_WAKERS: set[Callable[[], None]] = set()

_ACTIVE_FOR = (
    "SELECT subscription_id, unit_id, event_types FROM webhook_subscriptions "
    "WHERE status = 'active' AND unit_id = ANY($1::text[])"
)
_CASES = "SELECT * FROM cases WHERE case_id = ANY($1::uuid[])"
_QUEUE = (
    "INSERT INTO webhook_deliveries (delivery_id, webhook_id, subscription_id, unit_id, "
    "event_type, case_id, body, status, due_at) "
    "SELECT d, w, s, u, t, c, b, 'pending', now() FROM unnest($1::uuid[], $2::text[], "
    "$3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::text[]) AS x(d, w, s, u, t, c, b)"
)
CLAIM_DUE = """
WITH due AS (
    SELECT d.delivery_id FROM webhook_deliveries d
    JOIN webhook_subscriptions s ON s.subscription_id = d.subscription_id
    WHERE d.status = 'pending' AND d.due_at <= now()
      AND (d.lease_until IS NULL OR d.lease_until <= now()) AND s.status = 'active'
    ORDER BY d.due_at
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
SET lease_until = now() + make_interval(secs => $2), attempts = d.attempts + 1,
    last_attempt_at = now()
FROM due, webhook_subscriptions s
WHERE d.delivery_id = due.delivery_id AND s.subscription_id = d.subscription_id
RETURNING d.delivery_id, d.webhook_id, d.subscription_id, d.body, d.attempts, s.url, s.secret
"""
# Seconds until the next delivery may be claimed (a due retry or an expired lease).
NEXT_DUE = """
SELECT extract(epoch FROM min(greatest(d.due_at, coalesce(d.lease_until, d.due_at))) - now())
FROM webhook_deliveries d
JOIN webhook_subscriptions s ON s.subscription_id = d.subscription_id
WHERE d.status = 'pending' AND s.status = 'active'
"""
# Not for a delivery unsubscribed while it was in flight (it is gone with its log).
_ATTEMPT = (
    "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms) "
    "SELECT $1, $2, $3, $4, $5, $6 "
    "WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE delivery_id = $1)"
)
# Only while the claim is still this attempt's: a redelivery or a re-claim after the
# lease ran out owns the row now.
_DELIVERED = (
    "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), "
    "lease_until = NULL, last_status = $3, last_error = NULL "
    "WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending' RETURNING subscription_id"
)
_RETRY = (
    "UPDATE webhook_deliveries SET due_at = now() + make_interval(secs => $3), "
    "lease_until = NULL, last_status = $4, last_error = $5 "
    "WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending' RETURNING subscription_id"
)
_DEAD = (
    "UPDATE webhook_deliveries SET status = 'dead', lease_until = NULL, last_status = $3, "
    "last_error = $4 WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending' "
    "RETURNING subscription_id"
)
_ALIVE = (
    "UPDATE webhook_subscriptions SET consecutive_dead = 0 "
    "WHERE subscription_id = $1 AND consecutive_dead <> 0"
)
_ONE_MORE_DEAD = (
    "UPDATE webhook_subscriptions SET consecutive_dead = consecutive_dead + 1 "
    "WHERE subscription_id = $1 RETURNING consecutive_dead"
)
_DISABLE = (
    "UPDATE webhook_subscriptions SET status = 'disabled', disabled_at = now(), "
    "disabled_reason = $2 WHERE subscription_id = $1"
)
_RELEASE = (
    "UPDATE webhook_deliveries SET lease_until = NULL, attempts = attempts - 1 "
    "WHERE delivery_id = ANY($1::uuid[]) AND status = 'pending' AND lease_until > now()"
)
_PRUNE = (
    "DELETE FROM webhook_deliveries WHERE delivery_id IN (SELECT delivery_id "
    "FROM webhook_deliveries WHERE status <> 'pending' "
    "AND created_at < now() - $1::float8 * interval '1 day' LIMIT $2)"
)


def register_waker(wake: Callable[[], None]) -> Callable[[], None]:
    """Call ``wake`` after every local commit that queued deliveries; returns the undo."""
    _WAKERS.add(wake)
    return lambda: _WAKERS.discard(wake)


def wake_workers() -> None:
    """Deliveries were just queued (or made due) in this process."""
    for wake in tuple(_WAKERS):
        wake()


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for one attempt."""

    delivery_id: uuid.UUID
    webhook_id: str
    subscription_id: uuid.UUID
    body: str
    attempt: int
    url: str
    secret: str


class WebhookRepository(FastRepository):
    """Subscriptions and the delivery queue, inside one unit of work."""

    async def queue_for_changes(
        self, changes: Sequence[tuple[uuid.UUID, str]], units: Sequence[str]
    ) -> int:
        """Queue a delivery per case change per active subscription that asked for its
        event type, in this transaction; returns how many were queued."""
        conn = await self.conn()
        subscriptions = await conn.fetch(_ACTIVE_FOR, list(units))
        if not subscriptions:
            return 0
        case_ids = list(dict.fromkeys(case_id for case_id, _ in changes))
        cases = {r["case_id"]: Row(r) for r in await conn.fetch(_CASES, case_ids)}
        columns: list[list[Any]] = [[], [], [], [], [], [], []]
        for case_id, event_type in changes:
            case = cases.get(case_id)
            if case is None:
                continue
            body: str | None = None
            for sub in subscriptions:
                if sub["unit_id"] != case.unit_id or event_type not in sub["event_types"]:
                    continue
                if body is None:
                    data = case_read(case).model_dump(mode="json")
                    body = rules.webhook_body(event_type, case.updated_at, data)
                row = (
                    uuid.uuid4(),
                    rules.new_webhook_id(),
                    sub["subscription_id"],
                    case.unit_id,
                    event_type,
                    case_id,
                    body,
                )
                for column, value in zip(columns, row, strict=True):
                    column.append(value)
        if columns[0]:
            await conn.execute(_QUEUE, *columns)
        return len(columns[0])

    # --- subscriptions ------------------------------------------------------------------

    async def add_subscription(self, row: dict[str, Any]) -> Any:
        """Insert a subscription; returns it."""
        conn = await self.conn()
        return Row(
            await conn.fetchrow(
                "INSERT INTO webhook_subscriptions (subscription_id, unit_id, url, "
                "event_types, description, secret, status, created_by) "
                "VALUES ($1, $2, $3, $4, $5, $6, 'active', $7) RETURNING *",
                row["subscription_id"],
                row["unit_id"],
                row["url"],
                to_json(row["event_types"]),
                row["description"],
                row["secret"],
                row["created_by"],
            )
        )

    async def subscription(self, subscription_id: uuid.UUID, *, for_update: bool = False) -> Any:
        """One subscription, or None."""
        sql = "SELECT * FROM webhook_subscriptions WHERE subscription_id = $1"
        sql += " FOR UPDATE" if for_update else ""
        return row_or_none(await (await self.conn()).fetchrow(sql, subscription_id))

    async def subscriptions(self, unit_id: str | None) -> list[Any]:
        """A unit's subscriptions (every unit's with None), oldest first."""
        conn = await self.conn()
        if unit_id is None:
            rows = await conn.fetch(
                "SELECT * FROM webhook_subscriptions ORDER BY created_at, subscription_id"
            )
        else:
            rows = await conn.fetch(
                "SELECT * FROM webhook_subscriptions WHERE unit_id = $1 "
                "ORDER BY created_at, subscription_id",
                unit_id,
            )
        return [Row(r) for r in rows]

    async def delete_subscription(self, subscription_id: uuid.UUID) -> None:
        """Remove a subscription with its queue and log."""
        await (await self.conn()).execute(
            "DELETE FROM webhook_subscriptions WHERE subscription_id = $1", subscription_id
        )

    async def reactivate(self, subscription_id: uuid.UUID) -> None:
        """Enable a subscription again, its count of dead deliveries forgotten."""
        await (await self.conn()).execute(
            "UPDATE webhook_subscriptions SET status = 'active', consecutive_dead = 0, "
            "disabled_at = NULL, disabled_reason = NULL WHERE subscription_id = $1",
            subscription_id,
        )

    # --- the delivery log ---------------------------------------------------------------

    async def deliveries(
        self, subscription_id: uuid.UUID, *, before: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Any]:
        """A subscription's deliveries, newest first, keyset-paginated."""
        conn = await self.conn()
        sql = "SELECT * FROM webhook_deliveries WHERE subscription_id = $1"
        args: list[Any] = [subscription_id]
        if before is not None:
            sql += " AND (created_at, delivery_id) < ($2, $3)"
            args += list(before)
        sql += f" ORDER BY created_at DESC, delivery_id DESC LIMIT {int(limit) + 1}"
        return [Row(r) for r in await conn.fetch(sql, *args)]

    async def delivery(self, subscription_id: uuid.UUID, delivery_id: uuid.UUID) -> Any:
        """One delivery of the subscription, locked, or None."""
        return row_or_none(
            await (await self.conn()).fetchrow(
                "SELECT * FROM webhook_deliveries WHERE delivery_id = $1 "
                "AND subscription_id = $2 FOR UPDATE",
                delivery_id,
                subscription_id,
            )
        )

    async def attempts(self, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
        """The attempts of each delivery, in order."""
        rows = await (await self.conn()).fetch(
            "SELECT * FROM webhook_attempts WHERE delivery_id = ANY($1::uuid[]) ORDER BY id",
            list(delivery_ids),
        )
        found: dict[uuid.UUID, list[Any]] = {d: [] for d in delivery_ids}
        for r in rows:
            found[r["delivery_id"]].append(Row(r))
        return found

    async def make_due(self, delivery_id: uuid.UUID) -> Any:
        """Queue a delivery again, now, with the same ``webhook-id``; returns it."""
        return Row(
            await (await self.conn()).fetchrow(
                "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, "
                "due_at = now(), lease_until = NULL, delivered_at = NULL "
                "WHERE delivery_id = $1 RETURNING *",
                delivery_id,
            )
        )


# --- the worker's statements (each in a short transaction of its own) --------------------


async def claim_due(conn: asyncpg.Connection, limit: int, lease_s: float) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries for one attempt each, leased for ``lease_s``."""
    rows = await conn.fetch(CLAIM_DUE, limit, lease_s)
    return [
        Claimed(
            r["delivery_id"],
            r["webhook_id"],
            r["subscription_id"],
            r["body"],
            r["attempts"],
            r["url"],
            r["secret"],
        )
        for r in rows
    ]


async def seconds_to_next_due(conn: asyncpg.Connection) -> float | None:
    """Seconds until a delivery may next be claimed (≤ 0: now), None when none waits."""
    value = await conn.fetchval(NEXT_DUE)
    return None if value is None else float(value)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


async def record_outcome(
    conn: asyncpg.Connection,
    claimed: Claimed,
    outcome: Outcome,
    *,
    retry_in_s: float | None,
    disable_after: int,
) -> str | None:
    """Log the attempt; mark the delivery delivered, due again or dead (and count dead
    deliveries against the subscription). Returns the delivery's new status, or None when
    the claim had been taken over meanwhile."""
    await conn.execute(
        _ATTEMPT,
        claimed.delivery_id,
        claimed.attempt,
        outcome.at,
        outcome.status_code,
        outcome.error,
        outcome.duration_ms,
    )
    key = (claimed.delivery_id, claimed.attempt)
    if outcome.ok:
        sub = await conn.fetchval(_DELIVERED, *key, outcome.status_code)
        if sub is not None:
            await conn.execute(_ALIVE, sub)
        return None if sub is None else "delivered"
    if retry_in_s is not None:
        sub = await conn.fetchval(_RETRY, *key, retry_in_s, outcome.status_code, outcome.error)
        return None if sub is None else "pending"
    sub = await conn.fetchval(_DEAD, *key, outcome.status_code, outcome.error)
    if sub is None:
        return None
    dead_in_a_row = await conn.fetchval(_ONE_MORE_DEAD, sub)
    if rules.should_disable(dead_in_a_row, disable_after=disable_after):
        reason = f"连续 {dead_in_a_row} 次投递失败 / {dead_in_a_row} dead deliveries in a row"
        await conn.execute(_DISABLE, sub, reason)
    return "dead"


async def release(conn: asyncpg.Connection, delivery_ids: Sequence[uuid.UUID]) -> None:
    """Give claimed, unsent deliveries back at once (a clean stop), for any process to send."""
    await conn.execute(_RELEASE, list(delivery_ids))


async def prune(conn: asyncpg.Connection, retention_days: float, batch: int = 5000) -> int:
    """Forget finished deliveries past the retention; returns how many."""
    status = await conn.execute(_PRUNE, retention_days, batch)
    return int(status.split()[-1])
