"""The learning loop against a real PostgreSQL: import, training and the registry, the
learned champion in routing, shadowing, misroutes teaching the unit model."""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from jiesu_common.contracts import make_event
from jiesu_common.contracts.events import ComplaintClosedV1, ComplaintReceivedV1
from jiesu_dispatch.learning import artefacts, cli, schedule, service
from jiesu_dispatch.learning.text_model import Document, TextModel, TextParams, train_text_model
from jiesu_dispatch.learning.unit_model import Place
from jiesu_dispatch.loopback import LoopBack
from tests.dispatch.learning_data import complaints, csv_text

from .conftest import bearer
from .test_dispatch_service import _received, _route

ADMIN = bearer("admin")
DISPATCHER = bearer("dispatcher")
IN_D01 = {"grid_code": "G01010101"}


def _state(client: httpx.AsyncClient) -> Any:
    return client.app.state.dispatch  # type: ignore[attr-defined]


def _csv_args(path: Path, **extra: Any) -> argparse.Namespace:
    fields: dict[str, Any] = {
        "csv": path,
        "text_columns": "title,text",
        "label_column": "label",
        "unit_column": "unit",
        "channel_column": None,
        "place_column": [],
        "source": None,
        "train_only": False,
    }
    return argparse.Namespace(**{**fields, **extra})


async def _close(client: httpx.AsyncClient, complaint_id: uuid.UUID) -> None:
    closed = ComplaintClosedV1(complaint_id=complaint_id, round=1, closed_at=datetime.now(UTC))
    state = _state(client)
    async with state.context.uow() as uow:
        await LoopBack(state.dispatcher).close_complaint(closed, make_event(closed), uow)
        await uow.commit()


async def _promoted(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    async with _state(client).context.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT payload FROM outbox WHERE event_type = 'jiesu.model.promoted.v1' ORDER BY id"
            )
        )
        return [r.payload["data"] for r in rows]


async def test_import_train_skip_promote_and_rollback_through_the_registry(
    dispatch: httpx.AsyncClient, tmp_path: Path
) -> None:
    state = _state(dispatch)
    url = state.settings.database.url
    history = tmp_path / "history.csv"
    history.write_text(csv_text(80), encoding="utf-8")
    await cli._import(url, _csv_args(history))
    await cli._import(url, _csv_args(history))  # the same file again replaces its rows

    async with state.uow() as uow:
        first = await service.train(uow, kind="category", by="test", folds=2)
        await uow.commit()
    async with state.uow() as uow:
        again = await service.train(uow, kind="category", by="test", folds=2)
        other = await service.train(
            uow, kind="category", by="test", folds=2, text_params=TextParams(c=1.0)
        )
        await uow.commit()
    assert not first.skipped and again.skipped and again.version == first.version
    assert other.version is not None and other.version > (first.version or 0)
    async with state.context.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="immutable"):
            await conn.execute(text("UPDATE model_versions SET created_by = 'x'"))

    listed = (await dispatch.get("/v1/learning/category/models", headers=DISPATCHER)).json()
    assert [(m["version"], m["aliases"], m["n_examples"]) for m in listed["items"]] == [
        (other.version, ["challenger"], 80),
        (first.version, [], 80),
    ]
    got = await dispatch.get(f"/v1/learning/category/models/{first.version}", headers=DISPATCHER)
    rep = got.json()["report"]
    assert rep["accuracy"] > 0.9 and rep["cv"]["folds"] == 2
    assert set(rep["per_class"]) == {
        "CITY-GARBAGE",
        "CITY-STREETLIGHT",
        "ENV-NOISE",
        "UTIL-WATER-OUTAGE",
    }
    assert len(rep["confusion"]) == 4 and rep["calibration"][0]["threshold"] == 0.3
    assert got.json()["libraries"]["scikit-learn"] != "absent"

    body = {"version": first.version}
    denied = await dispatch.put(
        "/v1/learning/category/aliases/champion", json=body, headers=DISPATCHER
    )
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")
    missing = await dispatch.put("/v1/learning/unit/aliases/champion", json=body, headers=ADMIN)
    assert missing.status_code == 404
    nothing = await dispatch.post(
        "/v1/learning/category/aliases/champion/rollback", json={}, headers=ADMIN
    )
    assert nothing.status_code == 409

    moved = await dispatch.put("/v1/learning/category/aliases/champion", json=body, headers=ADMIN)
    assert moved.json() == {
        "kind": "category",
        "alias": "champion",
        "version": first.version,
        "previous_version": None,
    }
    assert state.dispatcher.models.version("category", "champion") == first.version
    assert state.dispatcher.models.version("category", "challenger") == other.version
    await dispatch.put(
        "/v1/learning/category/aliases/champion", json={"version": other.version}, headers=ADMIN
    )
    assert state.dispatcher.models.version("category", "challenger") is None  # promoted
    back = await dispatch.post(
        "/v1/learning/category/aliases/champion/rollback", json={"note": "回滚"}, headers=ADMIN
    )
    assert back.json()["version"] == first.version
    assert state.dispatcher.models.version("category", "champion") == first.version
    announced = await _promoted(dispatch)
    assert [(a["alias"], a["version"], a["action"]) for a in announced] == [
        ("challenger", first.version, "train"),
        ("challenger", other.version, "train"),
        ("champion", first.version, "promote"),
        ("champion", other.version, "promote"),
        ("champion", first.version, "rollback"),
    ]

    out = tmp_path / "eval.json"
    fresh = tmp_path / "fresh.csv"
    fresh.write_text(csv_text(24, seed=3), encoding="utf-8")
    await cli._evaluate(url, _csv_args(fresh, model=first.version, json=out))
    scored = json.loads(out.read_text(encoding="utf-8"))
    assert (
        scored["n"] == 24
        and scored["macro_f1"] > 0.9
        and scored["model"]["version"] == first.version
    )


async def test_training_only_descriptions_teach_the_category_model_and_are_never_scored(
    dispatch: httpx.AsyncClient, tmp_path: Path
) -> None:
    state = _state(dispatch)
    url = state.settings.database.url
    history = tmp_path / "history.csv"
    history.write_text(csv_text(40), encoding="utf-8")
    await cli._import(url, _csv_args(history))
    async with state.uow() as uow:
        before = await service.train(uow, kind="category", by="test", folds=2)
        await uow.commit()
    # The city's category scheme: names nothing in the history says, and a category the
    # history has no case of (left out: no case could ever score it).
    scheme = tmp_path / "scheme.csv"
    scheme.write_text(
        "level1,level2,level3\n"
        "CITY-GARBAGE,餐厨废弃物,厨余收集\n"
        "CITY-GARBAGE,大件废弃物,旧家具弃置\n"
        "PARK-TREES,园林绿化,树木修剪\n",
        encoding="utf-8",
    )
    await cli._import(
        url,
        _csv_args(
            scheme,
            text_columns="level2,level3",
            label_column="level1",
            unit_column=None,
            train_only=True,
        ),
    )
    async with state.uow() as uow:
        after = await service.train(uow, kind="category", by="test", folds=2)
        unit = await service.train(uow, kind="unit", by="test", folds=2)
        await uow.commit()
        models = {
            v: TextModel.from_state(
                artefacts.load((await uow.learning.version(v, artefact=True)).artefact)
            )
            for v in (before.version, after.version)
            if v is not None
        }
    assert not after.skipped and after.version != before.version  # the data changed
    rep = after.report
    assert rep["training_only_examples"] == 2 and rep["n"] == 40  # only the cases are scored
    assert (
        "PARK-TREES" not in rep["per_class"] and "PARK-TREES" not in models[after.version].classes
    )
    assert unit.report["n"] == 40  # descriptions name no unit: the unit model never sees them
    doc = Document("厨余收集", "餐厨废弃物没人收集，大件旧家具弃置楼道")
    taught, untaught = (dict(models[v].predict_proba(doc)) for v in (after.version, before.version))
    assert max(taught, key=lambda c: taught[c]) == "CITY-GARBAGE"
    assert taught["CITY-GARBAGE"] > untaught["CITY-GARBAGE"]


_MODEL: list[TextModel] = []


def _text_model() -> TextModel:
    if not _MODEL:
        rows = complaints(120)
        _MODEL.append(train_text_model([Document(t, c) for t, c, _ in rows], [k for *_, k in rows]))
    return _MODEL[0]


async def _register(client: httpx.AsyncClient, *aliases: str) -> None:
    """The synthetic text model as a version holding the aliases (no CV: fast)."""
    state = _state(client)
    for n, alias in enumerate(aliases):
        async with state.uow() as uow:
            version = await uow.learning.add_version(
                {
                    "kind": "category",
                    "fingerprint": f"synthetic-{n}",
                    "params": TextParams().as_dict(),
                    "libraries": artefacts.library_versions(),
                    "report": {},
                    "n_examples": 120,
                    "artefact": artefacts.dump(_text_model().to_state()),
                    "created_by": "test",
                }
            )
            await service.move_alias(uow, kind="category", alias=alias, version=version, by="test")
            await uow.commit()
    async with state.uow() as uow:
        await service.refresh_served(state.dispatcher.models, uow)


async def test_learned_champion_routes_sure_complaints_queues_unsure_ones_and_is_shadowed(
    dispatch: httpx.AsyncClient,
) -> None:
    await _register(dispatch, "champion", "challenger")
    sure = _received("晚上路灯不亮，一片漆黑，请尽快处理", **IN_D01)
    [assigned] = await _route(dispatch, sure)
    assert assigned["type"] == "jiesu.complaint.assigned.v1"
    assert assigned["data"]["category_code"] == "CITY-STREETLIGHT"

    unsure = _received("你好，我想反映一个情况", **IN_D01)
    [queued] = await _route(dispatch, unsure)
    assert (
        queued["type"] == "jiesu.complaint.queued.v1" and queued["data"]["reason"] == "unclassified"
    )
    assert len(queued["data"]["candidate_categories"]) == 3
    hints = (
        await dispatch.get(f"/v1/complaints/{unsure.complaint_id}/suggestions", headers=DISPATCHER)
    ).json()
    assert hints["model_version"] is not None and len(hints["suggestions"]) == 3
    assert hints["classifier_confidence"] < hints["min_confidence"]

    await _close(dispatch, sure.complaint_id)
    shadow = (await dispatch.get("/v1/learning/category/shadow", headers=DISPATCHER)).json()
    assert (shadow["seen"], shadow["agreement"], shadow["settled"]) == (2, 1.0, 1)
    assert shadow["champion_accuracy"] == shadow["challenger_accuracy"] == 1.0


async def test_a_reassigned_case_closes_as_a_misroute_and_teaches_the_unit_model(
    dispatch: httpx.AsyncClient,
) -> None:
    state = _state(dispatch)
    road = _received("解放路路面塌陷一个大坑", **IN_D01)
    road = road.model_copy(
        update={"summary": road.summary.model_copy(update={"category_code": "ROAD-DAMAGE"})}
    )
    [first] = await _route(dispatch, road)
    assert first["data"]["lead_unit_id"] == "dept-jt"
    moved = await dispatch.post(
        f"/v1/complaints/{road.complaint_id}/assignments",
        json={"lead_unit_id": "street-s0101", "note": "属地处理"},
        headers=DISPATCHER,
    )
    assert moved.status_code == 201, moved.text
    await _close(dispatch, road.complaint_id)
    signal = _with_category(_received("红绿灯坏了", **IN_D01), "TRAFFIC-SIGNAL")
    await _route(dispatch, signal)
    await _close(dispatch, signal.complaint_id)

    async with state.uow() as uow:
        examples = {e.id: e for e in await uow.learning.examples()}
        trained = await service.train(uow, kind="unit", by="test", folds=2)
        await uow.commit()
    misroute = examples[road.complaint_id]
    assert misroute.misrouted and misroute.first_lead_unit_id == "dept-jt"
    assert misroute.lead_unit_id == "street-s0101" and misroute.first_rule["lead"] == "dept-jt"
    assert not examples[signal.complaint_id].misrouted
    assert misroute.content and "caller" not in misroute._mapping

    await dispatch.put(
        "/v1/learning/unit/aliases/champion", json={"version": trained.version}, headers=ADMIN
    )
    learned = state.dispatcher.models.suggest_unit("ROAD-DAMAGE", Place(grid="G01010101"), "phone")
    assert learned is not None and learned.unit == "street-s0101"

    period = datetime.now(UTC).astimezone().strftime("%Y-%m")
    replay = (
        await dispatch.get(
            "/v1/learning/misroute-replay", params={"period": period}, headers=DISPATCHER
        )
    ).json()
    assert (replay["misroutes"], replay["unit_right"]) == (1, 1)
    by_unit = {r["key"]: r for r in replay["by_unit"]}
    assert (by_unit["dept-jt"]["misrouted"], by_unit["dept-jt"]["misroute_rate"]) == (1, 1.0)
    assert by_unit["dept-jg"]["misroute_rate"] == 0.0
    assert {r["key"] for r in replay["by_category"]} == {"ROAD-DAMAGE", "TRAFFIC-SIGNAL"}
    bad = await dispatch.get(
        "/v1/learning/misroute-replay", params={"period": "2026-13"}, headers=DISPATCHER
    )
    assert bad.status_code == 422

    state.settings.learning_overturn_min_cases = 1
    flagged = (await dispatch.get("/v1/learning/rule-overturns", headers=DISPATCHER)).json()[
        "items"
    ]
    assert [(r["category"], r["lead"], r["finished_by"]) for r in flagged] == [
        ("ROAD-DAMAGE", "dept-jt", "street-s0101")
    ]
    async with state.uow() as uow:  # past the retention, the history is forgotten
        gone = await uow.learning.forget_before(datetime.now(UTC) + timedelta(days=1))
        await uow.commit()
    assert gone == 2


def _with_category(payload: ComplaintReceivedV1, code: str) -> ComplaintReceivedV1:
    return payload.model_copy(
        update={"summary": payload.summary.model_copy(update={"category_code": code})}
    )


async def test_scheduled_retraining_makes_challengers_never_champions_and_skips_unchanged_history(
    dispatch: httpx.AsyncClient, tmp_path: Path
) -> None:
    state = _state(dispatch)
    url = state.settings.database.url
    history = tmp_path / "history.csv"
    history.write_text(csv_text(60), encoding="utf-8")
    await cli._import(url, _csv_args(history))
    async with state.uow() as uow:
        first = await service.train(uow, kind="category", by="test", folds=2)
        await uow.commit()
    body = {"version": first.version}
    await dispatch.put("/v1/learning/category/aliases/champion", json=body, headers=ADMIN)
    more = tmp_path / "more.csv"
    more.write_text(csv_text(30, seed=11), encoding="utf-8")
    await cli._import(url, _csv_args(more))  # the city's history grew

    assert await schedule.retrain(state.context) == 0  # the job, as the schedule runs it
    listed = (await dispatch.get("/v1/learning/category/models", headers=DISPATCHER)).json()
    newest = listed["items"][0]
    assert newest["version"] > (first.version or 0) and newest["n_examples"] == 90
    assert newest["aliases"] == ["challenger"] and newest["created_by"] == "schedule"
    assert [m["aliases"] for m in listed["items"][1:]] == [["champion"]]
    units = (await dispatch.get("/v1/learning/unit/models", headers=DISPATCHER)).json()
    assert [m["aliases"] for m in units["items"]] == [["challenger"]]

    assert await schedule.retrain(state.context) == 0  # nothing new: nothing trained
    again = (await dispatch.get("/v1/learning/category/models", headers=DISPATCHER)).json()
    assert len(again["items"]) == len(listed["items"])
    assert state.dispatcher.models.version("category", "champion") == first.version
