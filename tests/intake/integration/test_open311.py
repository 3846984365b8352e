"""Open311 GeoReport v2 on intake, against a real PostgreSQL and dispatch's real catalog."""

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from jiesu_common.contracts import make_event
from jiesu_common.contracts.envelope import EventPayload
from jiesu_common.contracts.events import (
    ComplaintAssignedV1,
    ComplaintClosedV1,
    ComplaintReopenedV1,
    ComplaintSummaryV1,
    ConsultationOpenedV1,
    DeadlinesV1,
    ExtensionGrantedV1,
    JurisdictionV1,
    LocationV1,
    MaskedCallerV1,
)
from jiesu_intake.status_view import apply_lifecycle_event

from .conftest import api_key, bearer

V2 = "/open311/v2"
FORM = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
NOISE: dict[str, Any] = {
    "service_code": "ENV-NOISE",
    "lat": "39.8712345",
    "long": "116.3312345",
    "address_string": "杏林路18号3单元",
    "description": "楼下烧烤店每天半夜噪音很大，严重扰民",
    "first_name": "三",
    "last_name": "张",
    "phone": "13812345678",
    "email": "zhangsan@example.com",
    "attribute[noise_source]": "restaurant",
    "attribute[time_of_day][]": ["night", "weekend"],
    "media_url": ["https://img.example.com/1.jpg", "https://img.example.com/2.jpg"],
    "account_id": "acct-77",
}


async def _scalar(client: httpx.AsyncClient, sql: str, **params: Any) -> Any:
    async with client.app.state.intake.context.engine.connect() as conn:  # type: ignore[attr-defined]
        return (await conn.execute(text(sql), params)).scalar_one()


async def _file(
    client: httpx.AsyncClient, key: str, fmt: str = "json", **changes: Any
) -> httpx.Response:
    body = {**NOISE, "api_key": key, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    return await client.post(f"{V2}/requests.{fmt}", data=body, headers=FORM)


async def _feed(client: httpx.AsyncClient, payload: EventPayload) -> None:
    """Deliver a lifecycle event as intake's consumer does (handler + commit)."""
    state = client.app.state.intake  # type: ignore[attr-defined]
    async with state.uow() as uow:
        await apply_lifecycle_event(payload, make_event(payload), uow)
        await uow.commit()


def _extended(complaint_id: uuid.UUID, resolve_by: datetime) -> EventPayload:
    """The centre granted round 1's unit more time, to ``resolve_by``."""
    return ExtensionGrantedV1(
        complaint_id=complaint_id,
        case_id=uuid.uuid4(),
        unit_id="street-s0101",
        round=1,
        decided_by="dispatcher:1",
        decided_at=datetime.now(UTC),
        extension_id=uuid.uuid4(),
        resolve_by=resolve_by,
    )


def _summary() -> ComplaintSummaryV1:
    return ComplaintSummaryV1(
        ticket_no="x",
        channel="open311",
        kind="complaint",
        urgency="normal",
        content="x",
        location=LocationV1(),
        caller=MaskedCallerV1(),
        received_at=datetime.now(UTC),
    )


def _assigned(complaint_id: uuid.UUID, resolve_by: datetime, round_no: int = 1) -> EventPayload:
    now = datetime.now(UTC)
    return ComplaintAssignedV1(
        complaint_id=complaint_id,
        assignment_id=uuid.uuid4(),
        round=round_no,
        lead_unit_id="street-s0101",
        category_code="ENV-NOISE",
        sla_class="general",
        deadlines=DeadlinesV1(accept_by=now, contact_by=now, resolve_by=resolve_by, return_by=now),
        mode="auto",
        assigned_at=now,
        jurisdiction=JurisdictionV1(),
        summary=_summary(),
    )


async def _complaint_id(client: httpx.AsyncClient, ticket_no: str) -> uuid.UUID:
    return uuid.UUID(
        str(await _scalar(client, "SELECT id FROM complaints WHERE ticket_no = :t", t=ticket_no))
    )


async def test_services_are_dispatchs_categories_in_json_and_xml(
    intake: httpx.AsyncClient,
) -> None:
    as_json = await intake.get(f"{V2}/services.json")
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == "application/json; charset=utf-8"
    services = {s["service_code"]: s for s in as_json.json()}
    assert len(services) == 31
    assert services["ENV-NOISE"] == {
        "service_code": "ENV-NOISE",
        "service_name": "噪声扰民",
        "description": "施工、商业经营、社会生活等产生的噪声影响居民休息。",
        "metadata": True,
        "type": "realtime",
        "keywords": services["ENV-NOISE"]["keywords"],
        "group": "生态环境",
    }
    assert "扰民" in services["ENV-NOISE"]["keywords"].split(", ")
    assert services["CITY-GARBAGE"]["metadata"] is False
    as_xml = await intake.get(f"{V2}/services.xml")
    assert as_xml.headers["content-type"] == "text/xml; charset=utf-8"
    assert as_xml.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(as_xml.content)
    assert root.tag == "services" and len(root.findall("service")) == 31
    first = root.find("service")
    assert first is not None
    assert [e.tag for e in first] == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]


async def test_service_definition_lists_the_category_questions(intake: httpx.AsyncClient) -> None:
    definition = (await intake.get(f"{V2}/services/ENV-NOISE.json")).json()
    assert definition["service_code"] == "ENV-NOISE"
    source, when = definition["attributes"]
    assert (source["code"], source["datatype"], source["required"], source["order"]) == (
        "noise_source",
        "singlevaluelist",
        True,
        1,
    )
    assert {"key": "restaurant", "name": "餐饮 / restaurant or barbecue"} in source["values"]
    assert when["datatype"] == "multivaluelist" and when["required"] is False
    xml = ET.fromstring((await intake.get(f"{V2}/services/ENV-NOISE.xml")).content)
    assert xml.tag == "service_definition"
    keys = [v.findtext("key") for v in xml.findall("attributes/attribute/values/value")]
    assert "restaurant" in keys and "night" in keys
    missing = await intake.get(f"{V2}/services/NOPE.xml")
    assert missing.status_code == 404
    error = ET.fromstring(missing.content).find("error")
    assert error is not None and error.findtext("code") == "404"
    assert "NOPE" in (error.findtext("description") or "")


async def test_posted_request_is_filed_through_the_intake_path(intake: httpx.AsyncClient) -> None:
    key = await api_key(intake)
    answer = await _file(intake, key)
    assert answer.status_code == 201, answer.text
    [created] = answer.json()
    assert created["account_id"] == "acct-77"
    assert "7 个工作日" in created["service_notice"]
    ticket = created["service_request_id"]
    row = await _scalar(
        intake,
        "SELECT row_to_json(c)::text FROM complaints c WHERE ticket_no = :t",
        t=ticket,
    )
    stored = json.loads(row)
    assert stored["channel"] == "open311" and stored["app_id"] == "civic-app"
    assert (
        stored["caller_name_masked"] == "张*"
        and stored["caller_email_masked"] == "z***@example.com"
    )
    assert stored["attributes"] == {
        "noise_source": "restaurant",
        "time_of_day": ["night", "weekend"],
    }
    assert stored["attachments"] == NOISE["media_url"]
    assert "13812345678" not in row and "zhangsan@example.com" not in row
    event = json.loads(await _scalar(intake, "SELECT payload::text FROM outbox"))
    assert event["type"] == "jiesu.complaint.received.v1"
    assert event["data"]["summary"]["attributes"]["time_of_day"] == ["night", "weekend"]
    assert event["data"]["summary"]["category_code"] == "ENV-NOISE"


async def test_posted_request_answers_in_xml(intake: httpx.AsyncClient) -> None:
    key = await api_key(intake)
    answer = await _file(intake, key, fmt="xml")
    assert answer.status_code == 201
    root = ET.fromstring(answer.content)
    assert root.tag == "service_requests"
    request = root.find("request")
    assert request is not None
    assert [e.tag for e in request] == ["service_request_id", "service_notice", "account_id"]
    assert len(request.findtext("service_request_id") or "") == 14


async def test_bad_requests_get_open311_errors_and_file_nothing(intake: httpx.AsyncClient) -> None:
    key = await api_key(intake)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"api_key": None}, 403, "api_key"),
        ({"api_key": "jsk_wrong"}, 403, "API"),
        ({"service_code": "NOPE"}, 404, "NOPE"),
        ({"service_code": None}, 400, "service_code"),
        ({"attribute[noise_source]": None}, 400, "noise_source"),
        ({"attribute[noise_source]": "aliens"}, 400, "noise_source"),
        ({"attribute[time_of_day][]": ["dusk"]}, 400, "time_of_day"),
        ({"lat": None, "long": None, "address_string": None}, 400, "location"),
        ({"long": None}, 400, "long"),
        ({"lat": "north"}, 400, "lat"),
        ({"description": None}, 400, "description"),
        ({"phone": "call me"}, 400, "phone"),
        ({"media_url": ["not a url"]}, 400, "media_url"),
    ]
    for changes, status, mentions in cases:
        answer = await _file(intake, key, **changes)
        assert answer.status_code == status, (changes, answer.text)
        errors = answer.json()
        assert isinstance(errors, list) and errors[0]["code"] == status
        assert any(mentions in e["description"] for e in errors), (changes, errors)
    as_json = await intake.post(f"{V2}/requests.json", json={**NOISE, "api_key": key})
    assert as_json.status_code == 400
    assert await _scalar(intake, "SELECT count(*) FROM complaints") == 0


async def test_fixmystreet_resend_of_the_same_report_files_it_once(
    intake: httpx.AsyncClient,
) -> None:
    key = await api_key(intake)
    first = await _file(intake, key, **{"attribute[fixmystreet_id]": "4242"})
    again = await _file(intake, key, **{"attribute[fixmystreet_id]": "4242"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") is None  # Open311 has no such header
    assert await _scalar(intake, "SELECT count(*) FROM complaints") == 1
    assert await _scalar(intake, "SELECT external_ref FROM complaints") == "4242"


async def test_repeat_report_is_merged_and_closed_as_a_duplicate(intake: httpx.AsyncClient) -> None:
    key = await api_key(intake)
    master = (await _file(intake, key)).json()[0]["service_request_id"]
    again = await _file(intake, key, description="楼下烧烤店半夜噪音很大，每天都扰民")
    [created] = again.json()
    assert master in created["service_notice"]
    shown = (await intake.get(f"{V2}/requests/{created['service_request_id']}.json")).json()[0]
    assert shown["status"] == "closed" and "重复" in shown["status_notes"]


async def test_public_reads_show_no_contact_data_and_details_only_to_the_filing_app(
    intake: httpx.AsyncClient,
) -> None:
    key = await api_key(intake)
    other = await api_key(intake, "other-app")
    ticket = (await _file(intake, key)).json()[0]["service_request_id"]
    path = f"{V2}/requests/{ticket}.json"
    public = await intake.get(path)
    own = await intake.get(path, params={"api_key": key})
    foreign = await intake.get(path, params={"api_key": other})
    for answer in (public, own, foreign):
        assert answer.status_code == 200
        for secret in ("13812345678", "138****5678", "zhangsan", "张"):
            assert secret not in answer.text
    [mine] = own.json()
    assert mine["description"] == NOISE["description"]
    assert mine["address"] == NOISE["address_string"] and mine["lat"] == 39.8712345
    assert mine["media_url"] == NOISE["media_url"][0]
    for shown in (public.json()[0], foreign.json()[0]):
        assert shown["description"] is None and shown["address"] is None
        assert shown["media_url"] is None
        assert (shown["lat"], shown["long"]) == (39.871, 116.331)
    assert list(mine) == [
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    ]
    assert mine["requested_datetime"].endswith("+08:00")


async def test_confidential_complaints_and_reports_stay_off_the_public_list(
    intake: httpx.AsyncClient,
) -> None:
    operator = bearer("operator")
    base = {"channel": "phone", "content": "有人在小区内违规经营棋牌室", "location": {}}
    secret = {**base, "kind": "complaint", "caller": {"confidential": True, "phone": "13700000001"}}
    report = {**base, "kind": "report", "caller": {"phone": "13700000002"}}
    plain = {**base, "kind": "complaint", "content": "路灯坏了", "caller": {"phone": "13700000003"}}
    tickets = []
    for body in (secret, report, plain):
        filed = await intake.post("/v1/complaints", json=body, headers=operator)
        tickets.append(filed.json()["ticket_no"])
    listed = (await intake.get(f"{V2}/requests.json")).json()
    assert [r["service_request_id"] for r in listed] == [tickets[2]]
    assert (await intake.get(f"{V2}/requests/{tickets[0]}.json")).status_code == 404
    assert (await intake.get(f"{V2}/requests/{tickets[1]}.xml")).status_code == 404


async def test_status_follows_the_lifecycle_with_agency_and_expected_time(
    intake: httpx.AsyncClient,
) -> None:
    key = await api_key(intake)
    ticket = (await _file(intake, key)).json()[0]["service_request_id"]
    complaint_id = await _complaint_id(intake, ticket)
    path = f"{V2}/requests/{ticket}.json"
    fresh = (await intake.get(path)).json()[0]
    assert fresh["status"] == "open" and fresh["expected_datetime"] is None
    assert fresh["agency_responsible"] is None and "等待派单" in fresh["status_notes"]

    resolve_by = datetime(2030, 1, 8, 2, 0, tzinfo=UTC)
    await _feed(intake, _assigned(complaint_id, resolve_by))
    assigned = (await intake.get(path)).json()[0]
    assert assigned["status"] == "open"
    assert assigned["agency_responsible"] == "清河区柳荫街道办事处"
    assert assigned["expected_datetime"] == "2030-01-08T10:00:00+08:00"

    extended = datetime(2030, 1, 15, 2, 0, tzinfo=UTC)
    await _feed(intake, _extended(complaint_id, extended))
    assert (await intake.get(path)).json()[0]["expected_datetime"] == "2030-01-15T10:00:00+08:00"

    await _feed(
        intake, ComplaintClosedV1(complaint_id=complaint_id, round=1, closed_at=datetime.now(UTC))
    )
    closed = (await intake.get(path)).json()[0]
    assert closed["status"] == "closed" and "回访" in closed["status_notes"]
    by_status = (await intake.get(f"{V2}/requests.json", params={"status": "closed"})).json()
    assert [r["service_request_id"] for r in by_status] == [ticket]
    assert (await intake.get(f"{V2}/requests.json", params={"status": "open"})).json() == []


async def test_a_polls_events_of_one_complaint_project_in_one_transaction_as_one_by_one(
    intake: httpx.AsyncClient,
) -> None:
    # The status view locks a complaint once per transaction and keeps what its own writes
    # left: a later event of the same poll must see the round the earlier ones moved to.
    key = await api_key(intake)
    ticket = (await _file(intake, key)).json()[0]["service_request_id"]
    complaint_id = await _complaint_id(intake, ticket)
    now = datetime.now(UTC)
    first_by, second_by = now + timedelta(days=7), now + timedelta(days=9)
    stale = _extended(complaint_id, now + timedelta(days=30))
    events = [
        _assigned(complaint_id, first_by),
        ComplaintReopenedV1(
            complaint_id=complaint_id,
            review_id=uuid.uuid4(),
            round=1,
            next_round=2,
            reason="unsolved",
            reopened_at=now,
        ),
        _assigned(complaint_id, second_by, round_no=2),
        stale,  # round 1's: too late to move round 2's deadline
    ]
    state = intake.app.state.intake  # type: ignore[attr-defined]
    async with state.uow() as uow:
        for payload in events:
            await apply_lifecycle_event(payload, make_event(payload), uow)
        await uow.commit()
    where = "FROM complaints WHERE id = :i"
    assert await _scalar(intake, f"SELECT status {where}", i=complaint_id) == "assigned"
    assert await _scalar(intake, f"SELECT status_round {where}", i=complaint_id) == 2
    assert await _scalar(intake, f"SELECT resolve_by {where}", i=complaint_id) == second_by


async def test_status_shows_a_consultation_while_it_is_open(intake: httpx.AsyncClient) -> None:
    key = await api_key(intake)
    ticket = (await _file(intake, key)).json()[0]["service_request_id"]
    complaint_id = await _complaint_id(intake, ticket)
    now = datetime.now(UTC)
    await _feed(
        intake,
        ConsultationOpenedV1(
            complaint_id=complaint_id,
            consultation_id=uuid.uuid4(),
            round=1,
            participants=("dept-cg-d01", "dept-hj"),
            reason="派单规则认定多家主办单位",
            deadline=now + timedelta(hours=4),
            opened_at=now,
        ),
    )
    shown = await intake.get(f"/v1/complaints/{complaint_id}", headers=bearer("operator"))
    assert shown.json()["status"] == "consultation"
    assert "会商" in (await intake.get(f"{V2}/requests/{ticket}.json")).json()[0]["status_notes"]
    await _feed(intake, _assigned(complaint_id, now + timedelta(days=7)))
    shown = await intake.get(f"/v1/complaints/{complaint_id}", headers=bearer("operator"))
    assert shown.json()["status"] == "assigned"


async def test_request_list_filters_and_its_default_window(intake: httpx.AsyncClient) -> None:
    key = await api_key(intake)
    noise = (await _file(intake, key)).json()[0]["service_request_id"]
    light = (
        await _file(
            intake,
            key,
            service_code="CITY-STREETLIGHT",
            description="小区门口路灯连续三晚不亮",
            phone="13900000001",
            **{"attribute[noise_source]": None, "attribute[time_of_day][]": None},
        )
    ).json()[0]["service_request_id"]
    old = (await _file(intake, key, phone="13900000002", description="去年的噪声问题")).json()
    old_ticket = old[0]["service_request_id"]
    async with intake.app.state.intake.context.engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(
            text(
                "UPDATE complaints SET created_at = now() - interval '120 days' WHERE ticket_no = :t"
            ),
            {"t": old_ticket},
        )

    async def ids(**params: str) -> list[str]:
        answer = await intake.get(f"{V2}/requests.json", params=params)
        assert answer.status_code == 200, answer.text
        return [r["service_request_id"] for r in answer.json()]

    assert await ids() == [light, noise]
    assert await ids(service_code="CITY-STREETLIGHT") == [light]
    assert await ids(service_code="CITY-STREETLIGHT,ENV-NOISE", status="open") == [light, noise]
    assert await ids(service_request_id=f"{old_ticket},{noise}") == [noise, old_ticket]
    long_ago = (datetime.now(UTC) - timedelta(days=150)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await ids(start_date=long_ago) == [old_ticket]
    assert await ids(end_date=(datetime.now(UTC) - timedelta(days=100)).date().isoformat()) == [
        old_ticket
    ]
    too_long = await intake.get(
        f"{V2}/requests.xml",
        params={"start_date": long_ago, "end_date": datetime.now(UTC).isoformat()},
    )
    assert too_long.status_code == 400 and b"<errors>" in too_long.content
    for bad in ({"start_date": "yesterday"}, {"status": "pending"}):
        assert (await intake.get(f"{V2}/requests.json", params=bad)).status_code == 400
    intake.app.state.intake.settings.open311.max_requests = 1  # type: ignore[attr-defined]
    assert await ids() == [light]


async def test_token_finds_the_request_and_discovery_names_the_endpoint(
    intake: httpx.AsyncClient,
) -> None:
    key = await api_key(intake)
    ticket = (await _file(intake, key)).json()[0]["service_request_id"]
    complaint_id = await _complaint_id(intake, ticket)
    token = (await intake.get(f"{V2}/tokens/{complaint_id}.json")).json()
    assert token == [{"service_request_id": ticket, "token": str(complaint_id)}]
    assert (await intake.get(f"{V2}/tokens/{uuid.uuid4()}.json")).status_code == 404
    assert (await intake.get(f"{V2}/tokens/nope.xml")).status_code == 404
    discovery = (await intake.get(f"{V2}/discovery.json")).json()
    [endpoint] = discovery["endpoints"]
    assert endpoint["url"] == "http://intake/open311/v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    xml = ET.fromstring((await intake.get(f"{V2}/discovery.xml")).content)
    assert [f.text for f in xml.findall("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]


async def test_unknown_open311_paths_and_methods_answer_with_errors(
    intake: httpx.AsyncClient,
) -> None:
    missing = await intake.get(f"{V2}/nothing.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404
    wrong = await intake.delete(f"{V2}/services.xml")
    assert wrong.status_code == 405 and b"<errors>" in wrong.content
    assert "GET" in wrong.headers["allow"]
    # The rest of the API keeps RFC 9457.
    problem = await intake.get("/v1/nothing")
    assert problem.headers["content-type"] == "application/problem+json"


async def test_a_configured_jurisdiction_refuses_others(intake: httpx.AsyncClient) -> None:
    intake.app.state.intake.settings.open311.jurisdiction_id = "lj.gov.cn"  # type: ignore[attr-defined]
    ok = await intake.get(f"{V2}/services.json", params={"jurisdiction_id": "lj.gov.cn"})
    unset = await intake.get(f"{V2}/services.json")
    other = await intake.get(f"{V2}/services.json", params={"jurisdiction_id": "sfgov.org"})
    assert (ok.status_code, unset.status_code, other.status_code) == (200, 200, 404)
    assert "sfgov.org" in other.json()[0]["description"]


async def test_nul_characters_are_refused_rather_than_failing_the_database(
    intake: httpx.AsyncClient,
) -> None:
    key = await api_key(intake)
    by_query = await intake.get(f"{V2}/requests.json", params={"service_request_id": "1\x002"})
    by_path = await intake.get(f"{V2}/requests/1%002.xml")
    by_form = await _file(intake, key, description="半夜\x00噪声")
    assert (by_query.status_code, by_path.status_code, by_form.status_code) == (400, 400, 400)
    body = {"channel": "phone", "kind": "complaint", "content": "半夜\x00噪声"}
    by_json = await intake.post("/v1/complaints", json=body, headers=bearer("operator"))
    assert by_json.status_code == 422
    listed = await intake.get(
        "/v1/complaints", params={"ticket_no": "\x00"}, headers=bearer("operator")
    )
    assert listed.status_code == 400
    assert await _scalar(intake, "SELECT count(*) FROM complaints") == 0
