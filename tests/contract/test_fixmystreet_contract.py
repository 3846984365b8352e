"""Requests shaped as FixMyStreet's Open311 client (perllib/Open311.pm) sends them.

FixMyStreet posts form bodies with ``jurisdiction_id`` and ``api_key`` in the body, its own
report id as ``attribute[fixmystreet_id]``, the category's answers and its extras as
``attribute[...]``, and every photo as a repeated ``media_url``. It reads XML the way
XML::Simple does with ForceArray on request/request_update/error, polls
``servicerequestupdates.xml`` for a window of W3C dates, and maps the statuses it finds
with ``map_state`` (lower case, underscores to spaces).
"""

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from jiesu_common.contracts.events import (
    CaseAcceptedV1,
    CaseProgressedV1,
    CaseResolvedV1,
    ComplaintAssignedV1,
    ComplaintClosedV1,
    ComplaintSummaryV1,
    DeadlinesV1,
    JurisdictionV1,
    LocationV1,
    MaskedCallerV1,
    ReviewCompletedV1,
)

from .conftest import LiveIntake, bearer

JURISDICTION = "lj.gov.cn"
UNIT = "street-s0101"


def _report(key: str, fixmystreet_id: int, **extra: Any) -> list[tuple[str, str]]:
    """The body ``_populate_service_request_params`` builds (extended description on)."""
    url = f"https://fixmystreet.example.org/report/{fixmystreet_id}"
    params: list[tuple[str, str]] = [
        ("jurisdiction_id", JURISDICTION),
        ("api_key", key),
        ("description", f"路灯不亮\n\n杏林路口的路灯连续三晚不亮，晚上很危险\n\n{url}\n"),
        ("service_code", "CITY-STREETLIGHT"),
        ("first_name", "Li"),
        ("last_name", "Lei"),
        ("email", f"reporter{fixmystreet_id}@example.org"),
        ("phone", f"1390000{fixmystreet_id:04d}"),
        # Reports far enough apart (> 200 m) not to be taken for duplicates of each other.
        ("lat", f"{39.85 + (fixmystreet_id % 997) * 0.0025:.6f}"),
        ("long", "116.331234"),
        ("media_url", f"{url}/photo/0.full.jpeg"),
        ("media_url", f"{url}/photo/1.full.jpeg"),
        ("attribute[fixmystreet_id]", str(fixmystreet_id)),
        ("attribute[title]", "路灯不亮"),
        ("attribute[description]", "杏林路口的路灯连续三晚不亮，晚上很危险"),
        ("attribute[report_url]", url),
        ("attribute[closest_address]", "杏林路 18 号"),
        ("attribute[pole_no]", "LY-0123"),
    ]
    return params + list(extra.items())


def _post(live: LiveIntake, path: str, params: list[tuple[str, str]]) -> httpx.Response:
    body = httpx.QueryParams(params)  # HTTP::Request::Common's POST: urlencoded, repeats kept
    return httpx.post(
        f"{live.open311}/{path}",
        content=str(body).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def _first(xml: bytes, item: str) -> ET.Element:
    root = ET.fromstring(xml)
    found = root.findall(item)  # ForceArray: $obj->{item}->[0]
    assert found, xml
    return found[0]


def _w3(moment: datetime) -> str:
    """DateTime::Format::W3CDTF of a UTC DateTime."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _file(live: LiveIntake, key: str, fixmystreet_id: int) -> str:
    answer = _post(live, "requests.xml", _report(key, fixmystreet_id))
    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"] == "text/xml; charset=utf-8"
    return _first(answer.content, "request").findtext("service_request_id") or ""


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


def _assigned(complaint_id: uuid.UUID, round_no: int = 1) -> ComplaintAssignedV1:
    now = datetime.now(UTC)
    return ComplaintAssignedV1(
        complaint_id=complaint_id,
        assignment_id=uuid.uuid4(),
        round=round_no,
        lead_unit_id=UNIT,
        co_unit_ids=("dept-city",),
        category_code="CITY-STREETLIGHT",
        sla_class="general",
        deadlines=DeadlinesV1(accept_by=now, contact_by=now, resolve_by=now, return_by=now),
        mode="auto",
        assigned_at=now,
        jurisdiction=JurisdictionV1(),
        summary=_summary(),
    )


def _case(complaint_id: uuid.UUID, role: str = "lead", unit: str = UNIT) -> dict[str, Any]:
    return {
        "complaint_id": complaint_id,
        "case_id": uuid.uuid4(),
        "unit_id": unit,
        "round": 1,
        "role": role,
    }


def _resolved(complaint_id: uuid.UUID) -> CaseResolvedV1:
    return CaseResolvedV1(
        **_case(complaint_id), reply="已更换灯泡，路灯恢复照明", resolved_at=datetime.now(UTC)
    )


def _timeline(live: LiveIntake, ticket: str) -> dict[str, Any]:
    complaint_id = live.complaint_id(ticket)
    answer = httpx.get(f"{live.base_url}/v1/complaints/{complaint_id}", headers=bearer("operator"))
    return dict(answer.json())


def test_fixmystreet_report_is_filed_once_even_when_resent(live_intake: LiveIntake) -> None:
    key = live_intake.api_key("fixmystreet")
    ticket = _file(live_intake, key, 1001)
    assert len(ticket) == 14
    assert _file(live_intake, key, 1001) == ticket  # send_fail_count retry: same request
    shown = _timeline(live_intake, ticket)
    assert shown["channel"] == "open311" and shown["external_ref"] == "1001"
    assert shown["attachments"] == [
        "https://fixmystreet.example.org/report/1001/photo/0.full.jpeg",
        "https://fixmystreet.example.org/report/1001/photo/1.full.jpeg",
    ]
    assert shown["attributes"]["report_url"] == "https://fixmystreet.example.org/report/1001"
    assert shown["caller"]["name"] == "L*****" and shown["caller"]["email"] == "r***@example.org"


def test_fixmystreet_reads_errors_the_way_its_client_does(live_intake: LiveIntake) -> None:
    bad_key = _post(live_intake, "requests.xml", _report("jsk_not-a-key", 1002))
    assert bad_key.status_code == 403
    error = _first(bad_key.content, "error")
    assert error.findtext("code") == "403" and "API" in (error.findtext("description") or "")
    key = live_intake.api_key("fixmystreet-errors")
    wrong_code = [(k, "NO-SUCH" if k == "service_code" else v) for k, v in _report(key, 1003)]
    missing = _post(live_intake, "requests.xml", wrong_code)
    assert missing.status_code == 404 and _first(missing.content, "error").findtext("code") == "404"


def test_fixmystreet_reads_its_updates_feed_with_mapped_statuses(live_intake: LiveIntake) -> None:
    key = live_intake.api_key("fixmystreet-feed")
    start = datetime.now(UTC) - timedelta(minutes=5)
    ticket = _file(live_intake, key, 2001)
    complaint_id = live_intake.complaint_id(ticket)
    live_intake.feed(
        _assigned(complaint_id),
        CaseAcceptedV1(**_case(complaint_id), accepted_at=datetime.now(UTC)),
        CaseProgressedV1(
            **_case(complaint_id), note="已派电工现场查看", progressed_at=datetime.now(UTC)
        ),
        CaseProgressedV1(
            **_case(complaint_id, "co", "dept-city"),
            note="协办意见",
            progressed_at=datetime.now(UTC),
        ),
        _resolved(complaint_id),
        ReviewCompletedV1(
            complaint_id=complaint_id,
            review_id=uuid.uuid4(),
            round=1,
            contacted=True,
            resolved=True,
            satisfaction="satisfied",
            reviewer="reviewer:1",
            completed_at=datetime.now(UTC),
        ),
        ComplaintClosedV1(complaint_id=complaint_id, round=1, closed_at=datetime.now(UTC)),
    )
    params = {
        "jurisdiction_id": JURISDICTION,
        "api_key": key,
        "start_date": _w3(start),
        "end_date": _w3(datetime.now(UTC) + timedelta(minutes=1)),
    }
    feed = httpx.get(f"{live_intake.open311}/servicerequestupdates.xml", params=params)
    assert feed.status_code == 200, feed.text
    root = ET.fromstring(feed.content)
    assert root.tag == "service_request_updates"
    updates = root.findall("request_update")
    assert {u.findtext("service_request_id") for u in updates} == {ticket}
    statuses = [u.findtext("status") for u in updates]
    assert statuses == ["ACTION_SCHEDULED", "ACTION_SCHEDULED", "IN_PROGRESS", "FIXED", "FIXED"]
    # FixMyStreet's map_state turns these into states it shows.
    states = [(s or "").lower().replace("_", " ") for s in statuses]
    assert states[:3] == ["action scheduled", "action scheduled", "in progress"]
    assert [u.findtext("external_status_code") for u in updates] == [
        "assigned",
        "accepted",
        "in_progress",
        "resolved",
        "closed",
    ]
    texts = [u.findtext("description") or "" for u in updates]
    assert "清河区柳荫街道办事处" in texts[0] and texts[2].endswith("已派电工现场查看")
    assert texts[3].endswith("已更换灯泡，路灯恢复照明") and "协办意见" not in "".join(texts)
    for update in updates:
        stamp = datetime.fromisoformat(update.findtext("updated_datetime") or "")
        assert stamp.utcoffset() == timedelta(hours=8)
        assert start <= stamp <= datetime.now(UTC)
    ids = [u.findtext("update_id") for u in updates]
    again = ET.fromstring(
        httpx.get(f"{live_intake.open311}/servicerequestupdates.xml", params=params).content
    )
    assert [u.findtext("update_id") for u in again.findall("request_update")] == ids

    other = live_intake.api_key("someone-else")
    foreign = httpx.get(
        f"{live_intake.open311}/servicerequestupdates.xml", params={**params, "api_key": other}
    )
    assert ET.fromstring(foreign.content).findall("request_update") == []
    keyless = {k: v for k, v in params.items() if k != "api_key"}
    refused = httpx.get(f"{live_intake.open311}/servicerequestupdates.xml", params=keyless)
    assert refused.status_code == 403 and _first(refused.content, "error").findtext("code") == "403"


def _update(key: str, ticket: str, status: str, update_id: int, text: str) -> list[tuple[str, str]]:
    """The body ``_populate_service_request_update_params`` builds."""
    return [
        ("jurisdiction_id", JURISDICTION),
        ("api_key", key),
        ("updated_datetime", _w3(datetime.now(UTC))),
        ("service_request_id", ticket),
        ("status", status),
        ("description", text),
        ("last_name", "Lei"),
        ("first_name", "Li"),
        ("email", "reporter@example.org"),
        ("update_id", str(update_id)),
    ]


def _post_update(live: LiveIntake, params: list[tuple[str, str]]) -> httpx.Response:
    return _post(live, "servicerequestupdates.xml", params)


def test_fixmystreet_updates_are_mapped_onto_jiesus_states(live_intake: LiveIntake) -> None:
    key = live_intake.api_key("fixmystreet-updates")
    ticket = _file(live_intake, key, 3001)
    complaint_id = live_intake.complaint_id(ticket)
    live_intake.feed(_assigned(complaint_id))

    comment = _post_update(live_intake, _update(key, ticket, "OPEN", 1, "晚上还是很黑"))
    assert comment.status_code == 201, comment.text
    update_id = _first(comment.content, "request_update").findtext("update_id")
    assert update_id
    resent = _post_update(live_intake, _update(key, ticket, "OPEN", 1, "晚上还是很黑"))
    assert _first(resent.content, "request_update").findtext("update_id") == update_id
    shown = _timeline(live_intake, ticket)
    supplements = [
        t for t in shown["timeline"] if t["event_type"] == "jiesu.complaint.supplemented.v1"
    ]
    assert len(supplements) == 1 and supplements[0]["detail"]["intent"] == "comment"
    assert shown["status"] == "assigned"

    # The reporter marks it fixed on FixMyStreet before the unit replied: withdrawn.
    fixed = _post_update(live_intake, _update(key, ticket, "FIXED", 2, "已经修好了，谢谢"))
    assert fixed.status_code == 201
    assert _timeline(live_intake, ticket)["status"] == "withdrawn"
    public = httpx.get(f"{live_intake.open311}/requests/{ticket}.json").json()[0]
    assert public["status"] == "closed"

    # After the unit's reply, "not fixed" asks the callback review to reopen.
    second = _file(live_intake, key, 3002)
    second_id = live_intake.complaint_id(second)
    live_intake.feed(_assigned(second_id), _resolved(second_id))
    reopen = _post_update(live_intake, _update(key, second, "REOPEN", 3, "灯还是不亮"))
    assert reopen.status_code == 201
    after = _timeline(live_intake, second)
    assert after["status"] == "resolved"
    assert after["timeline"][-1]["detail"] == {
        "note": "灯还是不亮",
        "intent": "requests_reopen",
        "external_status": "REOPEN",
    }

    unknown = _post_update(live_intake, _update(key, second, "EXPLODED", 4, "?"))
    assert unknown.status_code == 400 and _first(unknown.content, "error").findtext("code") == "400"
    missing = _post_update(live_intake, _update(key, "20000101000000", "OPEN", 5, "?"))
    assert missing.status_code == 404
    stranger = live_intake.api_key("not-fixmystreet")
    foreign = _post_update(live_intake, _update(stranger, second, "OPEN", 6, "?"))
    assert foreign.status_code == 404
