"""The generated files in schemas/ must match the code (DESIGN §4: checked for drift in CI)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from jiesu_common.contracts import PAYLOADS, TOPICS, make_event
from jiesu_common.contracts.envelope import EventPayload
from jiesu_common.contracts.events import (
    CaseAcceptedV1,
    ComplaintAssignedV1,
    ComplaintMergedV1,
    ComplaintQueuedV1,
    ComplaintReceivedV1,
    ComplaintSummaryV1,
    DeadlinesV1,
    EscalationRaisedV1,
    JurisdictionV1,
    LocationV1,
    MaskedCallerV1,
    ReviewCompletedV1,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "export_schemas"
HINT = "schemas/ is out of date: run scripts/export_schemas and commit the result"


def _load_script() -> ModuleType:
    # The script has no .py suffix, so the loader must be given explicitly.
    loader = importlib.machinery.SourceFileLoader("export_schemas", str(SCRIPT))
    spec = importlib.util.spec_from_file_location("export_schemas", SCRIPT, loader=loader)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


exporter = _load_script()


@pytest.fixture(scope="module")
def generated() -> dict[Path, str]:
    return exporter.generate_files()


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_generated_files_match_disk(generated: dict[Path, str]) -> None:
    missing = [_rel(p) for p in generated if not p.is_file()]
    assert not missing, f"{HINT}; missing: {missing}"
    stale = exporter.stale_files(generated)
    details = "".join(exporter.diff(p, generated[p], max_lines=20) for p in stale)
    assert not stale, f"{HINT}; differing: {[_rel(p) for p in stale]}\n{details}"


def test_every_event_type_has_a_schema_file(generated: dict[Path, str]) -> None:
    for model in PAYLOADS:
        path = ROOT / "schemas" / "events" / f"{model.event_type}.schema.json"
        assert path in generated
        assert path.is_file(), f"{HINT}; no schema for {model.event_type}"
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema["title"] == model.__name__
        assert schema["x-cloudevents-type"] == model.event_type
        assert schema["x-jiesu-topic"] == model.topic


def test_no_stray_files_in_events_dir(generated: dict[Path, str]) -> None:
    stray = [_rel(p) for p in exporter.stray_files(generated)]
    assert not stray, f"{HINT}; files not generated from PAYLOADS: {stray}"
    assert len([p for p in generated if p.parent.name == "events"]) == len(PAYLOADS) + 1


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def test_asyncapi_document_is_consistent() -> None:
    document = yaml.safe_load((ROOT / "schemas" / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert document["asyncapi"] == "3.0.0"
    assert {c["address"] for c in document["channels"].values()} == set(TOPICS.values())
    for ref in _refs(document):
        _resolve(document, ref)  # every local reference resolves
    messages = document["components"]["messages"]
    assert {m["name"] for m in messages.values()} == {p.event_type for p in PAYLOADS}
    for model in PAYLOADS:
        channel = next(c for c in document["channels"].values() if c["address"] == model.topic)
        assert model.__name__ in channel["messages"], model.event_type
        message = messages[model.__name__]
        assert message["contentType"] == "application/cloudevents+json"
        assert message["payload"]["properties"]["data"] == {
            "$ref": f"#/components/schemas/{model.__name__}"
        }
    for operation in document["operations"].values():
        assert operation["action"] == "send"
        channel_ref = operation["channel"]["$ref"]
        for ref in operation["messages"]:
            assert ref["$ref"].startswith(channel_ref + "/messages/")


# --- examples validate against the exported schemas ----------------------------------------------

NOW = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
CID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def _summary() -> ComplaintSummaryV1:
    return ComplaintSummaryV1(
        ticket_no="12345-20240506-0001",
        channel="phone",
        kind="complaint",
        urgency="normal",
        title="路灯不亮",
        content="小区门口路灯连续三晚不亮。",
        category_code="city.lighting",
        location=LocationV1(address="某街道 1 号", lat=39.9, lon=116.4, grid_code="G-001"),
        caller=MaskedCallerV1(caller_ref="c-9f2e", name_masked="张*", phone_masked="138****0000"),
        received_at=NOW,
    )


def _examples() -> list[EventPayload]:
    return [
        ComplaintReceivedV1(complaint_id=CID, summary=_summary(), external_ref="ext-1"),
        ComplaintMergedV1(
            complaint_id=CID,
            ticket_no="12345-20240506-0002",
            master_id=uuid.uuid4(),
            master_ticket_no="12345-20240506-0001",
            reason="same_caller",
            similarity=0.8,
            merged_at=NOW,
        ),
        ComplaintAssignedV1(
            complaint_id=CID,
            assignment_id=uuid.uuid4(),
            round=1,
            lead_unit_id="street-01",
            co_unit_ids=("dept-lighting",),
            category_code="city.lighting",
            sla_class="general",
            deadlines=DeadlinesV1(
                accept_by=NOW + timedelta(hours=2),
                contact_by=NOW + timedelta(hours=24),
                resolve_by=NOW + timedelta(days=5),
                return_by=NOW + timedelta(hours=24),
            ),
            mode="auto",
            assigned_at=NOW,
            jurisdiction=JurisdictionV1(grid_code="G-001", street_code="S-01"),
            summary=_summary(),
        ),
        ComplaintQueuedV1(complaint_id=CID, reason="no_rule", detail="no route", queued_at=NOW),
        CaseAcceptedV1(
            complaint_id=CID,
            case_id=uuid.uuid4(),
            unit_id="street-01",
            round=1,
            role="lead",
            accepted_at=NOW,
        ),
        ReviewCompletedV1(
            complaint_id=CID,
            review_id=uuid.uuid4(),
            round=1,
            contacted=True,
            resolved=True,
            satisfaction="satisfied",
            reviewer="agent-7",
            completed_at=NOW,
        ),
        EscalationRaisedV1(
            complaint_id=CID,
            unit_id="street-01",
            round=1,
            clock="resolve",
            deadline=NOW,
            level="supervision",
            raised_at=NOW,
        ),
    ]


def _schema(name: str) -> dict[str, Any]:
    path = ROOT / "schemas" / "events" / name
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("payload", _examples(), ids=lambda p: p.event_type)
def test_examples_validate_against_exported_schemas(payload: EventPayload) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator_cls = jsonschema.Draft202012Validator
    schema = _schema(f"{payload.event_type}.schema.json")
    validator_cls.check_schema(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    data = payload.model_dump(mode="json")
    validator.validate(data)
    # extra="forbid" on the models must show as additionalProperties: false
    assert not validator.is_valid({**data, "phone": "13800000000"})

    envelope = _schema("cloudevent.schema.json")
    validator_cls.check_schema(envelope)
    validator_cls(envelope, format_checker=validator_cls.FORMAT_CHECKER).validate(
        make_event(payload).model_dump(mode="json")
    )


# --- no thread hop per request ----------------------------------------------------------------


def _api_routes(routes: Any) -> Any:
    """Every APIRoute, also those of included routers and mounts (kept nested)."""
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, "routes", None)  # a Mount
        if nested is None:  # an included router, which FastAPI keeps as it was given
            nested = getattr(getattr(route, "original_router", None), "routes", None)
        if nested:
            yield from _api_routes(nested)


def _dependencies(dependant: Any) -> Any:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def test_every_endpoint_and_dependency_of_the_services_is_async() -> None:
    """A plain ``def`` endpoint or dependency makes FastAPI run it in its thread pool on every
    request (a hand-off that cost intake 7 % of its CPU); the services' hot paths are async."""
    import inspect

    sync: list[str] = []
    routes = 0
    for name, app in exporter.service_apps().items():
        for route in _api_routes(app.routes):
            routes += 1
            calls = [route.endpoint] + [d.call for d in _dependencies(route.dependant)]
            for call in calls:
                if call is None or inspect.iscoroutinefunction(call):
                    continue
                if inspect.isasyncgenfunction(call):  # a stream or a yield dependency
                    continue
                if not inspect.isroutine(call) and inspect.iscoroutinefunction(type(call).__call__):
                    continue  # an instance with an async __call__ (FastAPI's security schemes)
                sync.append(f"{name} {route.path}: {getattr(call, '__qualname__', call)}")

    assert routes > 50  # the walk reached the routers' routes
    assert sync == [], "make these async def:\n" + "\n".join(sorted(set(sync)))
