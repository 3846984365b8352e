"""The learning loop's service layer: history at close, training and registering versions,
moving aliases (announced on the bus), shadow results, overturned rules, misroute replay."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import ModelPromotedV1, model_key
from jiesu_common.db.uow import UnitOfWork
from jiesu_common.http import Problem
from jiesu_dispatch.learning import artefacts
from jiesu_dispatch.learning.evaluation import cross_validate, report
from jiesu_dispatch.learning.served import ServedModels
from jiesu_dispatch.learning.text_model import Document, TextParams, train_text_model
from jiesu_dispatch.learning.unit_model import (
    Place,
    UnitExample,
    UnitModel,
    UnitParams,
    overturned_rules,
)

log = logging.getLogger(__name__)

KINDS = ("category", "unit")
ALIASES = ("champion", "challenger")


def _uow(uow: UnitOfWork) -> Any:
    # The learning repository hangs on dispatch's unit of work (``uow.learning``).
    assert hasattr(uow, "learning"), "a DispatchUnitOfWork is needed"
    return uow


async def refresh_served(models: ServedModels, uow: UnitOfWork) -> bool:
    """Load whatever the aliases now name into this process."""
    repo = _uow(uow).learning
    aliases = await repo.aliases()

    async def fetch(version: int) -> bytes:
        row = await repo.version(version, artefact=True)
        assert row is not None
        return bytes(row.artefact)

    return await models.refresh(aliases, fetch)


@dataclass
class ModelAnnouncements:
    """Consumes model.promoted in every replica (each in its own consumer group)."""

    models: ServedModels

    async def switch(self, payload: ModelPromotedV1, event: CloudEvent, uow: UnitOfWork) -> None:
        """Serve the versions the aliases name now (the event is the signal, the registry
        the truth: a replayed old announcement changes nothing)."""
        if await refresh_served(self.models, uow):
            log.info("models switched on announcement", extra={"version": payload.version})


# --- history -------------------------------------------------------------------------


async def record_closed(
    uow: UnitOfWork,
    complaint_id: uuid.UUID,
    closed_at: datetime,
    *,
    ref: Mapping[str, Any] | None,
    rounds: Sequence[Any],
) -> dict[str, Any] | None:
    """Keep a closed complaint as training history; returns the example (None when the
    complaint was never assigned). A misroute: the first lead unit did not finish it.

    ``ref`` (the complaint's ``summary`` and ``jurisdiction``) and ``rounds`` (its
    assignments, first round first) as ``DispatchRepository.close_complaint`` gives them.
    """
    u = _uow(uow)
    if ref is None or not rounds:
        return None
    first, last = rounds[0], rounds[-1]
    summary = ref["summary"]
    where = ref["jurisdiction"]
    example = {
        "id": complaint_id,
        "source": "history",
        "title": summary.get("title") or "",
        "content": summary.get("content") or "",
        "channel": summary.get("channel"),
        "grid_code": where.get("grid_code"),
        "community_code": where.get("community_code"),
        "street_code": where.get("street_code"),
        "district_code": where.get("district_code"),
        "category": last.category_code,
        "first_lead_unit_id": first.lead_unit_id,
        "lead_unit_id": last.lead_unit_id,
        "first_rule": first.rule if first.mode == "auto" else None,
        "misrouted": first.lead_unit_id != last.lead_unit_id,
        "closed_at": closed_at,
    }
    await u.learning.remember_closed(example, truth=last.category_code, closed_at=closed_at)
    return example


# --- training ------------------------------------------------------------------------


@dataclass(frozen=True)
class Trained:
    """The outcome of a training run."""

    kind: str
    version: int | None  # None when skipped
    skipped: bool
    report: dict[str, Any]


@dataclass(frozen=True)
class TextHistory:
    """The text model's training data: the cases (trained on and scored by cross-validation)
    and the training-only lines describing categories (trained on in every fold, never
    scored; only those of categories the cases have)."""

    docs: list[Document]
    labels: list[str]
    extra_docs: list[Document]
    extra_labels: list[str]


def text_rows(examples: Sequence[Any]) -> TextHistory:
    """The text model's documents and labels of stored examples."""
    cases = [e for e in examples if not e.train_only]
    known = {e.category for e in cases}
    extras = [e for e in examples if e.train_only and e.category in known]
    return TextHistory(
        [Document(e.title, e.content) for e in cases],
        [e.category for e in cases],
        [Document(e.title, e.content) for e in extras],
        [e.category for e in extras],
    )


def unit_rows(examples: Sequence[Any]) -> list[UnitExample]:
    """The unit model's examples (only cases whose finishing unit is known)."""
    return [
        UnitExample(
            e.category,
            Place(e.grid_code, e.community_code, e.street_code, e.district_code),
            e.channel,
            e.lead_unit_id,
        )
        for e in examples
        if e.lead_unit_id and not e.train_only
    ]


def fit_category(
    history: TextHistory, params: TextParams, folds: int
) -> tuple[bytes, dict[str, Any]]:
    """CV report and the artefact of the model fitted on everything (CPU-bound)."""
    extra_docs, extra_labels = history.extra_docs, history.extra_labels

    def fit_predict(
        train: list[Document], train_labels: list[str], test: list[Document]
    ) -> list[tuple[str, float]]:
        model = train_text_model(train + extra_docs, train_labels + extra_labels, params)
        return [model.predict_proba(d)[0] for d in test]

    rep = cross_validate(history.docs, history.labels, fit_predict, k=folds)
    rep["training_only_examples"] = len(extra_docs)
    model = train_text_model(history.docs + extra_docs, history.labels + extra_labels, params)
    return artefacts.dump(model.to_state()), rep


def fit_unit(
    examples: list[UnitExample], params: UnitParams, folds: int
) -> tuple[bytes, dict[str, Any]]:
    """CV report (accuracy of the suggested unit) and the artefact of the unit model."""

    def fit_predict(
        train: list[UnitExample], _labels: list[str], test: list[UnitExample]
    ) -> list[tuple[str, float]]:
        model = UnitModel.fit(train, params)
        out = []
        for ex in test:
            s = model.suggest(ex.category, ex.place, ex.channel)
            out.append((s.unit, s.share) if s else ("", 0.0))
        return out

    labels = [e.unit for e in examples]
    rep = _unit_cv(examples, labels, fit_predict, folds)
    return artefacts.dump(UnitModel.fit(examples, params).to_state()), rep


def _unit_cv(
    examples: list[UnitExample], labels: list[str], fit_predict: Any, folds: int
) -> dict[str, Any]:
    # Units with a single case cannot be stratified; they still train every fold.
    if len(examples) < 2:
        return report(labels, labels, [1.0] * len(labels))
    return cross_validate(examples, labels, fit_predict, k=folds)


async def train(
    uow: UnitOfWork,
    *,
    kind: str,
    by: str,
    folds: int = 5,
    text_params: TextParams | None = None,
    unit_params: UnitParams | None = None,
    alias: str | None = "challenger",
    force: bool = False,
) -> Trained:
    """Train a kind's model on the kept history, register it and give it the alias
    (never the champion: promotion is an admin's decision). Skipped when a version was
    already trained on exactly this data with these parameters."""
    u = _uow(uow)
    examples = await u.learning.examples()
    if kind == "category":
        params = (text_params or TextParams()).as_dict()
        # A training-only line is marked in the fingerprint (cases keep their old form).
        rows: list[tuple[Any, ...]] = [
            (e.title, e.content, e.category, *(("train-only",) if e.train_only else ()))
            for e in examples
        ]
        labels = {e.category for e in examples if not e.train_only}
    else:
        params = (unit_params or UnitParams()).as_dict()
        rows = [
            (
                e.category,
                e.grid_code,
                e.community_code,
                e.street_code,
                e.district_code,
                e.channel,
                e.lead_unit_id,
            )
            for e in examples
            if e.lead_unit_id and not e.train_only
        ]
        labels = {r[-1] for r in rows}
    if len(labels) < 2:
        raise Problem.conflict(
            "too-little-history", "历史数据不足（至少两个类别）/ need at least two labels"
        )
    digest = artefacts.fingerprint(rows, params, kind)
    existing = await u.learning.latest_fingerprint(kind, digest)
    if existing is not None and not force:
        log.info("training skipped: data unchanged", extra={"kind": kind, "version": existing})
        return Trained(kind, existing, True, {})
    if kind == "category":
        blob, rep = await asyncio.to_thread(
            fit_category, text_rows(examples), TextParams(**params), folds
        )
    else:
        blob, rep = await asyncio.to_thread(
            fit_unit, unit_rows(examples), UnitParams(**params), folds
        )
    version = await u.learning.add_version(
        {
            "kind": kind,
            "fingerprint": digest,
            "params": params,
            "libraries": artefacts.library_versions(),
            "report": rep,
            "n_examples": len(rows),
            "artefact": blob,
            "created_by": by,
        }
    )
    if alias is not None:
        await move_alias(uow, kind=kind, alias=alias, version=version, by=by, action="train")
    return Trained(kind, version, False, rep)


# --- aliases -------------------------------------------------------------------------


async def move_alias(
    uow: UnitOfWork,
    *,
    kind: str,
    alias: str,
    version: int,
    by: str,
    action: str = "promote",
    note: str | None = None,
) -> dict[str, Any]:
    """Point an alias at a version and announce it (model.promoted); a version made champion
    stops being the challenger."""
    if kind not in KINDS:
        raise Problem.not_found(f"模型类型 / model kind {kind}")
    if alias not in ALIASES:
        raise Problem.invalid(f"未知别名 / unknown alias {alias!r} (champion | challenger)")
    u = _uow(uow)
    await u.learning.lock_aliases(kind)
    row = await u.learning.version(version)
    if row is None or row.kind != kind:
        raise Problem.not_found(f"模型版本 / {kind} model version {version}")
    aliases = await u.learning.aliases(kind)
    previous = aliases.get((kind, alias))
    if previous == version:
        return {"kind": kind, "alias": alias, "version": version, "previous_version": previous}
    now = datetime.now(UTC)
    await u.learning.set_alias(
        kind=kind,
        alias=alias,
        version=version,
        previous=previous,
        action=action,
        by=by,
        note=note,
        at=now,
    )
    if alias == "champion" and aliases.get((kind, "challenger")) == version:
        await u.learning.drop_alias(kind, "challenger")
    uow.publish(
        ModelPromotedV1(
            complaint_id=model_key(kind),
            kind=kind,
            alias=alias,
            version=version,
            previous_version=previous,
            action=action,
            promoted_by=by,
            promoted_at=now,
            note=note,
        )
    )
    return {"kind": kind, "alias": alias, "version": version, "previous_version": previous}


async def retire_alias(
    uow: UnitOfWork, *, kind: str, alias: str, by: str, note: str | None
) -> dict[str, Any]:
    """The alias points nowhere: replicas stop serving it (a category champion's place is
    taken by the keyword classifier again). Announced like a promotion."""
    if kind not in KINDS:
        raise Problem.not_found(f"模型类型 / model kind {kind}")
    u = _uow(uow)
    await u.learning.lock_aliases(kind)
    current = (await u.learning.aliases(kind)).get((kind, alias))
    if current is None:
        raise Problem.not_found(f"模型别名 / {kind} {alias}")
    now = datetime.now(UTC)
    await u.learning.drop_alias(kind, alias)
    await u.learning.record_alias_change(
        kind=kind,
        alias=alias,
        version=current,
        previous=current,
        action="retire",
        by=by,
        note=note,
        at=now,
    )
    uow.publish(
        ModelPromotedV1(
            complaint_id=model_key(kind),
            kind=kind,
            alias=alias,
            version=current,
            previous_version=current,
            action="retire",
            promoted_by=by,
            promoted_at=now,
            note=note,
        )
    )
    return {"kind": kind, "alias": alias, "version": current, "previous_version": current}


async def rollback(uow: UnitOfWork, *, kind: str, by: str, note: str | None) -> dict[str, Any]:
    """Give the champion alias back to the version it held before its last change."""
    if kind not in KINDS:
        raise Problem.not_found(f"模型类型 / model kind {kind}")
    u = _uow(uow)
    await u.learning.lock_aliases(kind)
    current = (await u.learning.aliases(kind)).get((kind, "champion"))
    changes = await u.learning.alias_changes(kind, "champion")
    last = next((c for c in changes if c.version == current), None)
    if current is None or last is None or last.previous_version is None:
        raise Problem.conflict("nothing-to-roll-back", "没有可回滚的上一版本 / no earlier champion")
    return await move_alias(
        uow,
        kind=kind,
        alias="champion",
        version=last.previous_version,
        by=by,
        action="rollback",
        note=note,
    )


# --- what the history says -----------------------------------------------------------


async def shadow_report(uow: UnitOfWork, *, models: ServedModels) -> dict[str, Any]:
    """The challenger beside the champion on live complaints: agreement and accuracy."""
    u = _uow(uow)
    aliases = await u.learning.aliases("category")
    challenger = aliases.get(("category", "challenger"))
    out: dict[str, Any] = {
        "champion_version": aliases.get(("category", "champion")),
        "challenger_version": challenger,
        "seen": 0,
        "agreement": None,
        "settled": 0,
        "champion_accuracy": None,
        "challenger_accuracy": None,
    }
    if challenger is None:
        return out
    s = await u.learning.shadow_summary(challenger)
    out.update(
        seen=s.seen,
        settled=s.settled,
        agreement=round(s.agreed / s.seen, 4) if s.seen else None,
        champion_accuracy=round(s.champion_right / s.settled, 4) if s.settled else None,
        challenger_accuracy=round(s.challenger_right / s.settled, 4) if s.settled else None,
    )
    return out


async def rule_overturns(
    uow: UnitOfWork, *, min_cases: int, min_rate: float
) -> list[dict[str, Any]]:
    """Routing rules whose automatic assignments closed with another unit too often."""
    examples = await _uow(uow).learning.examples()
    rows = [(e.first_rule, e.first_lead_unit_id, e.lead_unit_id) for e in examples]
    return [vars(r) for r in overturned_rules(rows, min_cases=min_cases, min_rate=min_rate)]


async def misroute_replay(
    uow: UnitOfWork, *, models: ServedModels, start: datetime, end: datetime
) -> dict[str, Any]:
    """Over the misroutes closed in [start, end): would the champions have routed them right
    (the category model names the final category, the unit model the unit that finished)?"""
    misroutes = await _uow(uow).learning.misroutes(start, end)
    category_right = unit_right = both = 0
    for e in misroutes:
        guess = models.guess("champion", e.title, e.content, top=1)
        category = guess.label if guess else None
        place = Place(e.grid_code, e.community_code, e.street_code, e.district_code)
        unit = models.suggest_unit(e.category, place, e.channel)
        c_ok = category == e.category
        u_ok = unit is not None and unit.unit == e.lead_unit_id
        category_right += c_ok
        unit_right += u_ok
        both += c_ok and u_ok
    n = len(misroutes)
    rates = {
        f"by_{by}": [
            {
                "key": r.key,
                "closed": r.closed,
                "misrouted": r.misrouted,
                "misroute_rate": round(r.misrouted / r.closed, 4),
            }
            for r in await _uow(uow).learning.misroute_rates(start, end, by)
        ]
        for by in ("unit", "category")
    }
    return {
        **rates,
        "misroutes": n,
        "category_champion": models.version("category", "champion"),
        "unit_champion": models.version("unit", "champion"),
        "category_right": category_right,
        "unit_right": unit_right,
        "routed_right": both,
        "routed_right_rate": round(both / n, 4) if n else None,
    }
