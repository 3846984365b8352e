"""Self-review links against a real PostgreSQL, with intake's caller route served on loopback:
issuing (and its record), one answer per link even when two race, the answer's events, the
rate limits, links that cannot be issued, and the platform issuing links by itself."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from jiesu_common.auth import mint_token
from jiesu_common.contracts import make_event
from jiesu_common.contracts.events import CaseResolvedV1, ComplaintWithdrawnV1
from jiesu_common.db.migrations import upgrade_head
from jiesu_common.settings import AuthSettings
from jiesu_common.testing.plugin import DatabaseFactory
from jiesu_review.main import MIGRATIONS, create_app
from jiesu_review.self_review import issue_due_links
from jiesu_review.settings import ReviewSettings
from tests.metrics.scenario import assigned

SECRET = "review-self-review-secret-0123456789abcdef"
PHONE = "13711112222"
ANSWERS = {"contacted": "yes", "resolved": "yes", "satisfaction": "satisfied"}


class _Intake:
    """Intake's internal caller route on loopback: one resident with a phone, one without."""

    def __init__(self) -> None:
        self.anonymous: set[str] = set()
        self.asked_by: list[str | None] = []
        intake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                complaint_id = self.path.split("/")[4]
                intake.asked_by.append(self.headers.get("X-Jiesu-Purpose"))
                anonymous = complaint_id in intake.anonymous
                body = json.dumps(
                    {
                        "name": None if anonymous else "王五",
                        "phone": None if anonymous else PHONE,
                        "anonymous": anonymous,
                        "confidential": False,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def intake() -> Iterator[_Intake]:
    server = _Intake()
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
async def review(
    new_database: DatabaseFactory, intake: _Intake, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    url = await new_database("review")
    await asyncio.to_thread(upgrade_head, MIGRATIONS, url)
    settings = ReviewSettings(
        database={"url": url},
        auth={"jwt_secret": SECRET},
        intake_url=intake.url,
        notify={"adapter": "file", "file_path": str(tmp_path / "sms.jsonl")},
        self_review={"base_url": "https://12345.example", "per_link": 4, "per_address": 1000},
    )
    app = create_app(settings)
    state = app.state.review
    await state.context.start(background=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://review"
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await state.context.engine.dispose()


def bearer(role: str) -> dict[str, str]:
    token = mint_token(AuthSettings(jwt_secret=SecretStr(SECRET)), role=role)
    return {"Authorization": f"Bearer {token}"}


async def _resolved(client: httpx.AsyncClient) -> tuple[str, str]:
    """A complaint handled by dept-hj whose review is pending: (complaint id, review id)."""
    state = client.app.state.review  # type: ignore[attr-defined]
    reviews = state.context.consumers[0].handlers
    cid = uuid.uuid4()
    round_assigned = assigned(cid, 5, 1, "dept-hj", (), 0)
    resolution = CaseResolvedV1(
        complaint_id=cid,
        case_id=uuid.uuid4(),
        unit_id="dept-hj",
        round=1,
        role="lead",
        reply="已清理油烟管道，电话 13800001111 可回访",
        resolved_at=datetime.now(UTC),
    )
    for payload in (round_assigned, resolution):
        async with state.uow() as uow:
            await reviews[payload.event_type](payload, make_event(payload), uow)
            await uow.commit()
    listed = await client.get(
        "/v1/reviews", params={"complaint_id": str(cid)}, headers=bearer("reviewer")
    )
    return str(cid), listed.json()["items"][0]["review_id"]


async def _issue(client: httpx.AsyncClient, review_id: str) -> httpx.Response:
    return await client.post(
        f"/v1/reviews/{review_id}/self-review-links", headers=bearer("reviewer")
    )


def _sent_url(tmp_path: Path) -> str:
    last = json.loads((tmp_path / "sms.jsonl").read_text().splitlines()[-1])
    url: str = last["data"]["url"]
    return url.removeprefix("https://12345.example")


async def _outbox(client: httpx.AsyncClient, complaint_id: str) -> list[tuple[str, Any]]:
    engine = client.app.state.review.context.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT event_type, payload->'data'->'self_reported' FROM outbox "
                "WHERE key = :k ORDER BY id"
            ),
            {"k": complaint_id},
        )
        return [(r[0], r[1]) for r in rows]


async def test_issuing_records_the_send_masked_and_two_racing_answers_close_once(
    review: httpx.AsyncClient, intake: _Intake, tmp_path: Path
) -> None:
    cid, rid = await _resolved(review)
    issued = await _issue(review, rid)
    assert issued.status_code == 201, issued.text
    assert issued.json()["sent"]["recipient"] == "137****2222"
    assert intake.asked_by == [f"self-review:{rid}"]
    path = _sent_url(tmp_path)
    engine = review.app.state.review.context.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        recorded = (
            await conn.execute(
                text("SELECT kind, recipient, recipient_role, channel, status FROM notifications")
            )
        ).all()
    assert [tuple(r) for r in recorded] == [
        ("review.self_link", "137****2222", "resident", "file", "sent")
    ]
    assert PHONE not in (tmp_path / "sms.jsonl").read_text()

    shown = await review.get(path)
    assert shown.status_code == 200
    assert "13800001111" not in shown.text and "138****11" in shown.text  # the reply, masked

    first, second = await asyncio.gather(
        review.post(path, data=ANSWERS),
        review.post(path, data={**ANSWERS, "satisfaction": "dissatisfied"}),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 410]
    events = await _outbox(review, cid)
    assert [e for e, _ in events].count("jiesu.review.completed.v1") == 1
    [(_, flag)] = [e for e in events if e[0] == "jiesu.review.completed.v1"]
    assert flag is True
    outcome = "jiesu.complaint.closed.v1" if first.status_code == 200 else None
    expected = outcome or "jiesu.complaint.reopened.v1"
    assert [e for e, _ in events if e.startswith("jiesu.complaint.")] == [expected]

    # An operator can no longer record the callback, and a new link is refused.
    again = await review.post(
        f"/v1/reviews/{rid}",
        headers=bearer("reviewer"),
        json={"contacted": True, "resolved": True, "satisfaction": "satisfied"},
    )
    assert again.status_code == 409
    assert (await _issue(review, rid)).status_code == 409


async def test_a_dissatisfied_resident_reopens_the_complaint_as_self_reported(
    review: httpx.AsyncClient, tmp_path: Path
) -> None:
    cid, rid = await _resolved(review)
    assert (await _issue(review, rid)).status_code == 201
    answer = await review.post(
        _sent_url(tmp_path),
        data={"contacted": "no", "resolved": "no", "satisfaction": "dissatisfied"},
    )
    assert answer.status_code == 200 and "重办" in answer.text
    shown = (await review.get(f"/v1/reviews/{rid}", headers=bearer("reviewer"))).json()
    assert (shown["outcome"], shown["self_reported"], shown["contacted"]) == (
        "reopened",
        True,
        False,
    )
    assert ("jiesu.complaint.reopened.v1", None) in await _outbox(review, cid)


async def test_a_link_asked_too_often_gets_a_429_page(
    review: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, rid = await _resolved(review)
    assert (await _issue(review, rid)).status_code == 201
    path = _sent_url(tmp_path)
    statuses = [(await review.get(path)).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    limited = await review.post(path, data=ANSWERS)
    assert limited.status_code == 429 and "访问过于频繁" in limited.text
    assert int(limited.headers["Retry-After"]) >= 1
    shown = (await review.get(f"/v1/reviews/{rid}", headers=bearer("reviewer"))).json()
    assert shown["status"] == "pending"


async def test_no_link_for_a_resident_without_a_number_or_for_people_who_may_not(
    review: httpx.AsyncClient, intake: _Intake, tmp_path: Path
) -> None:
    cid, rid = await _resolved(review)
    intake.anonymous.add(cid)
    refused = await _issue(review, rid)
    assert refused.status_code == 409 and refused.json()["type"].endswith("/no-phone")
    for role in ("supervisor", "operator"):
        answer = await review.post(f"/v1/reviews/{rid}/self-review-links", headers=bearer(role))
        assert answer.status_code == 403
    missing = await _issue(review, str(uuid.uuid4()))
    assert missing.status_code == 404
    assert not (tmp_path / "sms.jsonl").exists()
    links = await review.get(f"/v1/reviews/{rid}/self-review-links", headers=bearer("reviewer"))
    assert links.json()["items"] == []


async def test_the_platform_issues_one_link_per_due_review_within_its_hours(
    review: httpx.AsyncClient, intake: _Intake, tmp_path: Path
) -> None:
    state = review.app.state.review  # type: ignore[attr-defined]
    config = state.settings.self_review.model_copy(update={"auto_issue": True})
    settings = state.settings.model_copy(update={"self_review": config})
    cid, rid = await _resolved(review)
    silent_cid, silent_rid = await _resolved(review)
    intake.anonymous.add(silent_cid)
    due = datetime.fromisoformat(
        (await review.get(f"/v1/reviews/{rid}", headers=bearer("reviewer"))).json()["due_at"]
    )

    async def run(at: datetime) -> int:
        return await issue_due_links(
            state.context, settings=settings, notifier=state.notifier, now=at
        )

    assert await run(due - timedelta(hours=1)) == 0  # not due yet
    assert await run(due + timedelta(hours=1)) == 0  # 01:00 in Shanghai: nobody is texted
    assert not (tmp_path / "sms.jsonl").exists()
    morning = due + timedelta(hours=10)
    # Two replicas at once: one link, one SMS.
    assert sorted(await asyncio.gather(run(morning), run(morning))) == [0, 1]
    assert await run(morning + timedelta(minutes=1)) == 0
    [sms] = [json.loads(line) for line in (tmp_path / "sms.jsonl").read_text().splitlines()]
    assert sms["data"]["review_id"] == rid and sms["to"] == "137****2222"

    issued = await review.get(f"/v1/reviews/{rid}/self-review-links", headers=bearer("reviewer"))
    [link] = issued.json()["items"]
    assert link["issued_by"] == "platform" and link["revoked_at"] is None
    silent = await review.get(
        f"/v1/reviews/{silent_rid}/self-review-links", headers=bearer("reviewer")
    )
    [never] = silent.json()["items"]  # no number: the link exists only as revoked
    assert never["revoked_at"] is not None

    page = await review.get(sms["data"]["url"].removeprefix("https://12345.example"))
    assert page.status_code == 200
    done = await review.post(sms["data"]["url"].removeprefix("https://12345.example"), data=ANSWERS)
    assert done.status_code == 200
    assert ("jiesu.complaint.closed.v1", None) in await _outbox(review, cid)


async def test_a_stale_or_withdrawn_resolution_opens_no_review(
    review: httpx.AsyncClient,
) -> None:
    """A lead's reply is called back only while its round is the latest and the complaint
    stands: a reply of round 1 arriving after round 2 was assigned, or after a withdrawal,
    opens no review."""
    state = review.app.state.review  # type: ignore[attr-defined]
    handlers = state.context.consumers[0].handlers

    async def apply(*payloads: Any) -> None:
        for payload in payloads:
            async with state.uow() as uow:
                await handlers[payload.event_type](payload, make_event(payload), uow)
                await uow.commit()

    def resolution(cid: uuid.UUID, rnd: int) -> CaseResolvedV1:
        return CaseResolvedV1(
            complaint_id=cid,
            case_id=uuid.uuid4(),
            unit_id="dept-hj",
            round=rnd,
            role="lead",
            reply="已处理",
            resolved_at=datetime.now(UTC),
        )

    async def rounds_reviewed(cid: uuid.UUID) -> list[int]:
        listed = await review.get(
            "/v1/reviews", params={"complaint_id": str(cid)}, headers=bearer("reviewer")
        )
        assert listed.status_code == 200, listed.text
        return sorted(item["round"] for item in listed.json()["items"])

    stale = uuid.uuid4()
    await apply(
        assigned(stale, 5, 1, "dept-hj", (), 0),
        assigned(stale, 5, 2, "dept-hj", (), 0),
        resolution(stale, 1),
    )
    assert await rounds_reviewed(stale) == []
    await apply(resolution(stale, 2))
    assert await rounds_reviewed(stale) == [2]

    withdrawn = uuid.uuid4()
    await apply(
        assigned(withdrawn, 5, 1, "dept-hj", (), 0),
        ComplaintWithdrawnV1(
            complaint_id=withdrawn, reason="已自行解决", withdrawn_at=datetime.now(UTC)
        ),
        resolution(withdrawn, 1),
    )
    assert await rounds_reviewed(withdrawn) == []
