"""What the Open311 routes read: requests by ticket, by window, and the updates feed."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from jiesu_intake import orm

# Kinds nobody but the filing app may see on the public list: a report (举报) names
# someone, and a confidential complaint must not be seen at all.
PRIVATE_KINDS = ("report",)
# The timeline entries FixMyStreet's updates feed shows: those that move the status.
FEED_TYPES = (
    "jiesu.complaint.queued.v1",
    "jiesu.consultation.opened.v1",
    "jiesu.complaint.assigned.v1",
    "jiesu.case.accepted.v1",
    "jiesu.case.contacted.v1",
    "jiesu.case.progressed.v1",
    "jiesu.case.resolved.v1",
    "jiesu.complaint.closed.v1",
    "jiesu.complaint.reopened.v1",
    "jiesu.complaint.merged.v1",
    "jiesu.complaint.answered.v1",
    "jiesu.complaint.withdrawn.v1",
)


@dataclass(frozen=True)
class RequestQuery:
    """GET requests' filters, already checked."""

    since: datetime
    until: datetime
    statuses: set[str] | None
    service_codes: set[str] | None
    limit: int


class Open311Repository:
    """Reads for the Open311 routes, inside one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_tickets(self, tickets: Iterable[str], *, viewer: str | None) -> list[Any]:
        """Requests by service_request_id (ticket number), as far as ``viewer`` may see."""
        c = orm.complaints.c
        query = select(orm.complaints).where(c.ticket_no.in_(list(tickets)), visible_to(viewer))
        return list((await self.session.execute(query.order_by(c.created_at.desc()))).all())

    async def by_id(self, complaint_id: uuid.UUID, *, viewer: str | None) -> Any | None:
        """One request by complaint id (Open311's token), as far as ``viewer`` may see."""
        c = orm.complaints.c
        query = select(orm.complaints).where(c.id == complaint_id, visible_to(viewer))
        return (await self.session.execute(query)).first()

    async def search(self, query: RequestQuery, *, viewer: str | None) -> list[Any]:
        """Requests filed in a window, newest first, at most ``query.limit``."""
        c = orm.complaints.c
        stmt = select(orm.complaints).where(
            c.created_at >= query.since, c.created_at <= query.until, visible_to(viewer)
        )
        if query.statuses is not None:
            stmt = stmt.where(c.status.in_(sorted(query.statuses)))
        if query.service_codes is not None:
            code = func.coalesce(c.category_code, c.category_resolved)
            stmt = stmt.where(code.in_(sorted(query.service_codes)))
        stmt = stmt.order_by(c.created_at.desc(), c.id.desc()).limit(query.limit)
        return list((await self.session.execute(stmt)).all())

    async def ticket_of(self, complaint_id: uuid.UUID) -> str | None:
        """A complaint's ticket number."""
        c = orm.complaints.c
        row = (await self.session.execute(select(c.ticket_no).where(c.id == complaint_id))).first()
        return row.ticket_no if row else None

    async def feed(self, *, app_id: str, since: datetime, until: datetime, limit: int) -> list[Any]:
        """Status-moving timeline entries of an app's requests in a window, oldest first."""
        t, c = orm.timeline.c, orm.complaints.c
        stmt = (
            select(t.event_id, t.event_type, t.at, t.round, t.detail, c.ticket_no, c.id)
            .join(orm.complaints, c.id == t.complaint_id)
            .where(
                c.app_id == app_id,
                t.at >= since,
                t.at <= until,
                t.event_type.in_(FEED_TYPES),
                # A co-unit's progress is on the timeline, but the lead unit's sets the status.
                or_(t.detail["role"].astext.is_(None), t.detail["role"].astext != "co"),
            )
            .order_by(t.at, t.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).all())

    async def review_results(self, complaint_ids: Iterable[uuid.UUID]) -> dict[Any, bool]:
        """(complaint id, round) → whether that round's callback found the problem solved."""
        t = orm.timeline.c
        stmt = (
            select(t.complaint_id, t.round, t.detail)
            .where(
                t.complaint_id.in_(list(complaint_ids)),
                t.event_type == "jiesu.review.completed.v1",
            )
            .order_by(t.at)
        )
        rows = (await self.session.execute(stmt)).all()
        return {(r.complaint_id, r.round): bool(r.detail.get("resolved")) for r in rows}


def visible_to(viewer: str | None) -> ColumnElement[bool]:
    """Everyone sees ordinary requests; the filing app also sees its confidential ones."""
    c = orm.complaints.c
    public = and_(c.confidential.is_(False), c.kind.not_in(PRIVATE_KINDS))
    return or_(public, c.app_id == viewer) if viewer else public
