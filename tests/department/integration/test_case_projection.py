"""department-response's consumers on a real database: cases opened and changed by events."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from jiesu_common.contracts import make_event
from jiesu_common.contracts.events import (
    ComplaintSupplementedV1,
    ExtensionGrantedV1,
    ReturnRejectedV1,
)
from jiesu_common.db.engine import create_engine, session_factory
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_department import handlers
from jiesu_department.domain import case_id_for
from jiesu_department.handlers import DepartmentUnitOfWork
from jiesu_department.main import MIGRATIONS
from jiesu_department.settings import DepartmentSettings
from tests.metrics.scenario import assigned, at


@pytest.fixture
async def sessions(new_database: DatabaseFactory) -> AsyncIterator[object]:
    url = await new_database("department")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    engine = create_engine(DepartmentSettings(database={"url": url}).database)
    yield session_factory(engine)
    await engine.dispose()


async def apply(sessions: object, handler: object, payload: object) -> None:
    async with DepartmentUnitOfWork(sessions) as uow:  # type: ignore[arg-type]
        await handler(payload, make_event(payload), uow)  # type: ignore[operator,arg-type]
        await uow.commit()


async def cases(sessions: object) -> dict[str, dict[str, object]]:
    async with DepartmentUnitOfWork(sessions) as uow:  # type: ignore[arg-type]
        rows = await uow.session.execute(text("SELECT * FROM cases ORDER BY round, unit_id"))
        return {f"{r.round}:{r.unit_id}": dict(r._mapping) for r in rows}


async def test_an_assignment_opens_lead_and_co_cases_once_and_a_new_round_supersedes(
    sessions: object,
) -> None:
    cid = uuid.uuid4()
    first = assigned(cid, 1, 1, "dept-jt", ("street-s0101",), 0)
    await apply(sessions, handlers.open_cases, first)
    await apply(sessions, handlers.open_cases, first)  # seen twice: still two cases
    opened = await cases(sessions)
    assert {k: (v["role"], v["status"]) for k, v in opened.items()} == {
        "1:dept-jt": ("lead", "assigned"),
        "1:street-s0101": ("co", "assigned"),
    }
    await apply(sessions, handlers.open_cases, assigned(cid, 1, 2, "gov-d01", (), 30))
    after = await cases(sessions)
    assert after["1:dept-jt"]["status"] == after["1:street-s0101"]["status"] == "withdrawn"
    assert after["2:gov-d01"]["status"] == "assigned"


async def test_decisions_and_supplements_change_the_case_they_name(sessions: object) -> None:
    cid = uuid.uuid4()
    event = assigned(cid, 1, 1, "dept-jt", (), 0)
    await apply(sessions, handlers.open_cases, event)
    case_id = case_id_for(event.assignment_id, "dept-jt")
    async with DepartmentUnitOfWork(sessions) as uow:  # type: ignore[arg-type]
        await uow.cases.change(
            case_id, "dept-jt", status="returned", status_before_return="accepted"
        )
        await uow.commit()
    decision = {
        "complaint_id": cid,
        "case_id": case_id,
        "unit_id": "dept-jt",
        "round": 1,
        "decided_by": "dispatcher:1",
        "decided_at": at(40),
    }
    await apply(
        sessions,
        handlers.apply_return_decision,
        ReturnRejectedV1(**decision, return_id=uuid.uuid4()),
    )
    new_deadline = at(60 * 24 * 20)
    await apply(
        sessions,
        handlers.apply_extension_decision,
        ExtensionGrantedV1(**decision, extension_id=uuid.uuid4(), resolve_by=new_deadline),
    )
    await apply(
        sessions,
        handlers.note_supplement,
        ComplaintSupplementedV1(
            complaint_id=cid, ticket_no="20261102000001", note="又塌了一块", supplemented_at=at(70)
        ),
    )
    case = (await cases(sessions))["1:dept-jt"]
    assert case["status"] == "accepted"  # back to the unit as it was before the return
    assert case["return_decision"] == "rejected"
    assert case["deadlines"]["resolve_by"] == new_deadline.isoformat()  # type: ignore[index]
    assert new_deadline - event.deadlines.resolve_by > timedelta(days=10)
    async with DepartmentUnitOfWork(sessions) as uow:  # type: ignore[arg-type]
        history = [h.action for h in await uow.cases.history(case_id)]
    assert history == ["assigned", "return_rejected", "extension_granted", "supplemented"]
