"""The unit of work: one transaction that writes state and its outgoing events together."""

from __future__ import annotations

import os
import uuid
from types import TracebackType
from typing import Any, Self

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jiesu_common.contracts.envelope import CloudEvent, EventPayload, make_event
from jiesu_common.contracts.events import EVENT_TYPES
from jiesu_common.logging import correlation_id_var
from jiesu_common.messaging.tables import OUTBOX_INSERT, OutboxRows, wake_local_relays


class UnitOfWork:
    """Opens a session; ``commit`` appends pending events to the outbox in the same transaction.

    Nothing but ``commit`` makes changes durable; leaving the block without it rolls back.
    Hot paths run their statements on ``await uow.connection()``: the asyncpg connection of
    the same transaction, with asyncpg's own prepared-statement cache and none of the
    ORM's statement building, compiling and result wrapping per call.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self.correlation_id: str | None = None
        self.traceparent: str | None = None
        self.committed = False
        self._pending: list[CloudEvent] = []
        # Events a repository statement already wrote to the outbox (take_outbox_rows).
        self._written: list[CloudEvent] = []
        self._raw: asyncpg.Connection | None = None

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        self.committed = False
        self._pending = []
        self._written = []
        self._raw = None
        return self

    async def connection(self) -> asyncpg.Connection:
        """The asyncpg connection of this unit of work's transaction (begun if need be)."""
        if self._raw is None:
            fairy: Any = await (await self.session.connection()).get_raw_connection()
            adapter = fairy.dbapi_connection
            # SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its own first statement;
            # statements sent on the driver connection directly need it sent now.
            if adapter._transaction is None:
                await adapter._start_transaction()
            self._raw = fairy.driver_connection
        return self._raw

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self.committed:
                await self.session.rollback()
        finally:
            await self.session.close()

    def publish(self, payload: EventPayload, *, event_id: uuid.UUID | None = None) -> CloudEvent:
        """Queue an event to leave with this transaction's commit (``event_id``: chosen earlier,
        when a row written before the event already names it)."""
        event = make_event(
            payload,
            correlation_id=self.correlation_id or correlation_id_var.get(),
            traceparent=self._child_traceparent(),
            event_id=event_id,
        )
        self._pending.append(event)
        return event

    @property
    def pending_events(self) -> list[CloudEvent]:
        """Events this transaction publishes so far, written to the outbox or still queued
        (read-only view for tests and handlers)."""
        return [*self._written, *self._pending]

    def take_outbox_rows(self) -> OutboxRows | None:
        """The queued events as the outbox insert's arrays, for a repository statement that
        writes them itself (``OUTBOX_ROWS_CTE``, saving the commit its own statement); the
        commit then only wakes the relay. None when nothing is queued."""
        pending, self._pending = self._pending, []
        if not pending:
            return None
        self._written.extend(pending)
        return _outbox_rows(pending)

    async def commit(self) -> None:
        """Write outbox rows and commit; then wake this process's relay."""
        pending = self._pending
        if pending:
            conn = await self.connection()
            await conn.execute(OUTBOX_INSERT, *_outbox_rows(pending))
        await self.session.commit()
        written = bool(pending or self._written)
        self._pending = []
        self._written = []
        self._raw = None
        self.committed = True
        if written:
            wake_local_relays()

    async def rollback(self) -> None:
        """Abandon the transaction and its pending events."""
        self._pending = []
        self._written = []
        self._raw = None
        await self.session.rollback()

    def _child_traceparent(self) -> str | None:
        # Keep the trace id of the work that caused this event, with a fresh span id.
        if not self.traceparent:
            return None
        parts = self.traceparent.split("-")
        if len(parts) != 4:
            return None
        return f"{parts[0]}-{parts[1]}-{os.urandom(8).hex()}-{parts[3]}"


def _outbox_rows(events: list[CloudEvent]) -> OutboxRows:
    return (
        [e.id for e in events],
        [_topic_of(e) for e in events],
        [e.subject for e in events],
        [e.type for e in events],
        [e.model_dump_json() for e in events],
    )


def _topic_of(event: CloudEvent) -> str:
    return EVENT_TYPES[event.type].topic
