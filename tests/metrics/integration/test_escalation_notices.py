"""The escalation ladder's messages: owed once per rung and recipient, delivered after commit,
retried after a failure, recorded with the number masked (real PostgreSQL, real HTTP)."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jiesu_common.auth import mint_token
from jiesu_common.contracts import make_event
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.settings import AuthSettings
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_metrics.handlers import MetricsUnitOfWork
from jiesu_metrics.main import MIGRATIONS, create_app
from jiesu_metrics.notices import EscalationNotices
from jiesu_metrics.settings import MetricsSettings
from tests.metrics.scenario import assigned, at

SECRET = "metrics-notices-secret-0123456789abcdef"
CONTACTS = {
    "dept-hj": [
        {"role": "duty", "name": "环保局值班室", "phone": "13901000016", "email": None},
        {"role": "head", "name": "环保局负责人", "phone": "13902000016", "email": None},
        {"role": "district_supervisor", "name": "市督查处", "phone": "13900000001"},
    ]
}


class _Loopback:
    """Dispatch's contacts route and an SMS gateway on one loopback server."""

    def __init__(self) -> None:
        self.sms: list[dict[str, Any]] = []
        self.contact_callers: list[str | None] = []
        self.gateway_failures = 1
        loop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                unit = self.path.split("/")[3]
                loop.contact_callers.append(self.headers.get("Authorization"))
                found = CONTACTS.get(unit)
                status, body = (200, {"unit_id": unit, "contacts": found}) if found else (404, {})
                self._answer(status, body)

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                message = json.loads(self.rfile.read(length))
                if loop.gateway_failures > 0:
                    loop.gateway_failures -= 1
                    self._answer(502, {"error": f"upstream busy for {message['to']}"})
                    return
                loop.sms.append(message)
                self._answer(200, {"id": f"m{len(loop.sms)}"})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def loopback() -> Iterator[_Loopback]:
    server = _Loopback()
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
async def app_and_settings(
    new_database: DatabaseFactory, loopback: _Loopback
) -> AsyncIterator[tuple[Any, MetricsSettings]]:
    url = await new_database("metrics")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    settings = MetricsSettings(
        database={"url": url},
        auth={"jwt_secret": SECRET},
        dispatch_url=loopback.url,
        notify={"adapter": "sms", "sms_url": f"{loopback.url}/sms", "sms_token": "t"},
    )
    app = create_app(settings)
    await app.state.metrics.context.start(background=False)
    yield app, settings
    await app.state.metrics.context.engine.dispose()


async def _tick(app: Any, now: datetime) -> int:
    state = app.state.metrics
    async with state.uow() as uow:
        assert isinstance(uow, MetricsUnitOfWork)
        return await state.projector.tick(uow, now=now)


async def _notifications(app: Any, complaint_id: uuid.UUID) -> list[dict[str, Any]]:
    token = mint_token(AuthSettings(jwt_secret=SecretStr(SECRET)), role="supervisor")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://metrics"
    ) as client:
        answer = await client.get(
            "/v1/notifications",
            params={"complaint_id": str(complaint_id)},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_each_rung_owes_its_messages_once_and_a_failed_send_is_retried(
    app_and_settings: tuple[Any, MetricsSettings], loopback: _Loopback
) -> None:
    app, settings = app_and_settings
    state = app.state.metrics
    cid = uuid.uuid4()
    event = assigned(cid, 1, 1, "dept-hj", (), 0)
    async with state.uow() as uow:
        await state.projector.complaint_assigned(event, make_event(event), uow)
        await uow.commit()

    breach = at(120) + timedelta(seconds=1)  # the accept clock's deadline has passed
    assert await _tick(app, breach) == 2  # sla.breached + escalation.raised (reminder)
    assert await _tick(app, breach + timedelta(seconds=1)) == 0  # nothing owed twice
    [owed] = await _notifications(app, cid)
    assert (owed["kind"], owed["recipient_role"], owed["status"]) == (
        "escalation.reminder",
        "duty",
        "pending",
    )

    notices = EscalationNotices(settings)
    # The gateway fails the first send: recorded, and due again later.
    assert await notices.deliver_due(state.context, now=breach) == 0
    [failed] = await _notifications(app, cid)
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert failed["last_error"].startswith("gateway-502")
    assert "13901000016" not in json.dumps(failed)  # not even the gateway's echo of it
    assert failed["recipient"] == "139****0016"
    assert await notices.deliver_due(state.context, now=breach) == 0  # not due yet
    later = datetime.fromisoformat(failed["next_attempt_at"]) + timedelta(seconds=1)
    assert await notices.deliver_due(state.context, now=later) == 1
    [sent] = await _notifications(app, cid)
    assert sent["status"] == "sent" and sent["attempts"] == 2 and sent["channel"] == "sms"
    [sms] = loopback.sms
    assert sms["to"] == "13901000016" and "催办" in sms["text"]
    assert "20261102000001" in sms["text"]
    assert loopback.contact_callers[0] is not None  # asked with metrics' own identity

    # One working day later: supervision, to the unit's head and the district supervisor;
    # the contact clock breaches too, but the unit was already reminded of this complaint.
    supervision = breach + timedelta(days=1, hours=1)
    assert await _tick(app, supervision) == 3  # supervision; contact breached + reminder
    assert await notices.deliver_due(state.context, now=supervision) == 2
    told = {(n["kind"], n["recipient_role"]): n["status"] for n in await _notifications(app, cid)}
    assert told == {
        ("escalation.reminder", "duty"): "sent",
        ("escalation.supervision", "head"): "sent",
        ("escalation.supervision", "district_supervisor"): "sent",
    }
    assert [m["to"] for m in loopback.sms[1:]] and {m["to"] for m in loopback.sms[1:]} == {
        "13902000016",
        "13900000001",
    }
    assert await notices.deliver_due(state.context, now=supervision + timedelta(hours=3)) == 0


async def test_a_message_leased_by_a_process_that_died_is_sent_after_the_lease(
    app_and_settings: tuple[Any, MetricsSettings], loopback: _Loopback
) -> None:
    app, settings = app_and_settings
    loopback.gateway_failures = 0
    state = app.state.metrics
    cid = uuid.uuid4()
    event = assigned(cid, 2, 1, "dept-hj", (), 0)
    async with state.uow() as uow:
        await state.projector.complaint_assigned(event, make_event(event), uow)
        await uow.commit()
    breach = at(121)
    await _tick(app, breach)
    async with state.uow() as uow:  # a replica leases it and dies before sending
        leased = await uow.metrics.claim_notifications(
            breach, 10, lease_until=breach + timedelta(seconds=60)
        )
        await uow.commit()
    assert len(leased) == 1
    notices = EscalationNotices(settings)
    assert await notices.deliver_due(state.context, now=breach + timedelta(seconds=30)) == 0
    assert await notices.deliver_due(state.context, now=breach + timedelta(seconds=61)) == 1
    [sent] = await _notifications(app, cid)
    assert sent["status"] == "sent" and len(loopback.sms) == 1


async def test_a_unit_without_the_contact_is_recorded_as_failed_not_sent(
    app_and_settings: tuple[Any, MetricsSettings], loopback: _Loopback
) -> None:
    app, settings = app_and_settings
    state = app.state.metrics
    cid = uuid.uuid4()
    event = assigned(cid, 3, 1, "dept-jt", (), 0)  # the loopback directory does not know it
    async with state.uow() as uow:
        await state.projector.complaint_assigned(event, make_event(event), uow)
        await uow.commit()
    now = at(121)
    await _tick(app, now)
    assert await EscalationNotices(settings).deliver_due(state.context, now=now) == 0
    [failed] = await _notifications(app, cid)
    assert failed["status"] == "failed" and failed["last_error"].startswith("unknown-unit")
    assert loopback.sms == []
