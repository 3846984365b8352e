"""An outside Open311 client, the PyPI package ``georeport``, reads intake over real HTTP."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from georeport import GeoReport

from jiesu_common.contracts.events import (
    ComplaintAssignedV1,
    ComplaintSummaryV1,
    DeadlinesV1,
    JurisdictionV1,
    LocationV1,
    MaskedCallerV1,
)

from .conftest import LiveIntake

RESOLVE_BY = datetime(2030, 1, 8, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def filed(live_intake: LiveIntake) -> list[str]:
    """Two requests filed by an app; the first one assigned to a street office."""
    key = live_intake.api_key("georeport-app")
    forms: list[dict[str, Any]] = [
        {
            "service_code": "CITY-STREETLIGHT",
            "lat": "39.87",
            "long": "116.33",
            "description": "小区门口路灯连续三晚不亮",
            "attribute[lights_out]": "3",
        },
        {
            "service_code": "ROAD-DAMAGE",
            "address_string": "梧桐大道与芦花路口",
            "description": "路口有个大坑，电动车差点摔倒",
            "attribute[damage_type]": "pothole",
        },
    ]
    tickets = []
    for form in forms:
        answer = httpx.post(f"{live_intake.open311}/requests.json", data={**form, "api_key": key})
        assert answer.status_code == 201, answer.text
        tickets.append(answer.json()[0]["service_request_id"])
    live_intake.feed(_assigned(live_intake.complaint_id(tickets[0])))
    return tickets


def _assigned(complaint_id: uuid.UUID) -> ComplaintAssignedV1:
    now = datetime.now(UTC)
    return ComplaintAssignedV1(
        complaint_id=complaint_id,
        assignment_id=uuid.uuid4(),
        round=1,
        lead_unit_id="street-s0101",
        category_code="CITY-STREETLIGHT",
        sla_class="general",
        deadlines=DeadlinesV1(
            accept_by=now + timedelta(hours=2),
            contact_by=now + timedelta(hours=24),
            resolve_by=RESOLVE_BY,
            return_by=now + timedelta(hours=2),
        ),
        mode="auto",
        assigned_at=now,
        jurisdiction=JurisdictionV1(street_code="S0101"),
        summary=ComplaintSummaryV1(
            ticket_no="x",
            channel="open311",
            kind="complaint",
            urgency="normal",
            content="x",
            location=LocationV1(),
            caller=MaskedCallerV1(),
            received_at=now,
        ),
    )


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_services_and_one_service(live_intake: LiveIntake, fmt: str) -> None:
    client = GeoReport(live_intake.open311, output_format=fmt)
    services = {s["service_code"]: s for s in client.get_service_list()}
    assert len(services) == 31
    light = services["CITY-STREETLIGHT"]
    assert light["service_name"] == "路灯故障" and light["type"] == "realtime"
    assert str(light["metadata"]).lower() == "true"
    definition = client.get_service_definition("CITY-STREETLIGHT")
    assert definition["service_code"] == "CITY-STREETLIGHT"
    attributes = definition["attributes"]
    if fmt == "xml":  # xmltodict: <attributes><attribute>…</attribute>…</attributes>
        attributes = attributes["attribute"]
    assert [a["code"] for a in attributes] == ["pole_no", "lights_out"]
    assert attributes[1]["datatype"] == "number"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_reads_the_request_list_and_one_request(
    live_intake: LiveIntake, filed: list[str], fmt: str
) -> None:
    client = GeoReport(live_intake.open311, output_format=fmt)
    listed = client.get_service_requests()
    assert [r["service_request_id"] for r in listed] == list(reversed(filed))
    only_road = client.get_service_requests(service_code="ROAD-DAMAGE", status="open")
    if fmt == "xml":  # a single <request> parses as a dict, not a list
        only_road = [only_road]
    assert [r["service_request_id"] for r in only_road] == [filed[1]]

    one = client.get_service_request(filed[0])
    assert one["service_request_id"] == filed[0]
    assert one["status"] == "open"
    assert one["service_code"] == "CITY-STREETLIGHT" and one["service_name"] == "路灯故障"
    assert one["agency_responsible"] == "清河区柳荫街道办事处"
    assert one["expected_datetime"] == "2030-01-08T10:00:00+08:00"
    assert one["requested_datetime"].endswith("+08:00")
    assert "7 个工作日" in one["service_notice"]
    assert "已派单至清河区柳荫街道办事处" in one["status_notes"]
