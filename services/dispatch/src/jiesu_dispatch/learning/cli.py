"""``jiesu learn import|train|evaluate``: a city's history in, models trained, any labelled
file scored. Runs against dispatch's database; the running replicas hear of new aliases
through the outbox (model.promoted)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from jiesu_common.db.engine import create_engine, session_factory
from jiesu_common.http import Problem
from jiesu_common.outbox_cli import database_url
from jiesu_common.settings import DatabaseSettings
from jiesu_dispatch.handlers import DispatchUnitOfWork
from jiesu_dispatch.learning import service
from jiesu_dispatch.learning.evaluation import render, report
from jiesu_dispatch.learning.served import decode
from jiesu_dispatch.learning.text_model import Document, TextParams
from jiesu_dispatch.learning.unit_model import LEVELS, Place, UnitParams

IMPORT_NAMESPACE = uuid.UUID("0b6f7f1e-3c55-4c38-9a2b-5f0d1c16e001")
BATCH = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``learn`` sub-commands."""
    parser.add_argument("--database-url", help="dispatch's database (default: as `jiesu outbox`)")
    parser.add_argument("--data-dir", type=Path, default=Path(".jiesu"))
    sub = parser.add_subparsers(dest="action", required=True)
    imp = sub.add_parser("import", help="import a labelled history from CSV")
    _columns(imp)
    imp.add_argument("--source", help="name of this history (default: import:<file name>)")
    imp.add_argument(
        "--train-only",
        action="store_true",
        help="the rows describe their categories (names in the city's category scheme, "
        "glossary lines): the category model learns from them, evaluation never scores them",
    )
    train = sub.add_parser("train", help="train, evaluate (k-fold CV) and register a version")
    train.add_argument("--kind", choices=("category", "unit", "all"), default="all")
    train.add_argument("--folds", type=int, default=5)
    train.add_argument("--force", action="store_true", help="train even if the data is unchanged")
    train.add_argument("--no-alias", action="store_true", help="register only, no challenger")
    train.add_argument("--scheduled", action="store_true", help=argparse.SUPPRESS)
    train.add_argument("--param", action="append", default=[], help="KEY=VALUE model parameter")
    train.add_argument("--json", type=Path, help="write the report(s) here")
    ev = sub.add_parser("evaluate", help="score a registered version on a labelled CSV")
    ev.add_argument("--model", type=int, required=True, help="model version")
    _columns(ev)
    ev.add_argument("--json", type=Path, help="report file (default: evaluation-v<VERSION>.json)")


def _columns(p: argparse.ArgumentParser) -> None:
    p.add_argument("--csv", type=Path, required=True)
    p.add_argument("--text-columns", required=True, help="title column first, then content")
    p.add_argument("--label-column", required=True, help="the category")
    p.add_argument("--unit-column", help="the unit that finally handled it")
    p.add_argument("--channel-column")
    p.add_argument(
        "--place-column",
        action="append",
        default=[],
        metavar="LEVEL=COLUMN",
        help=f"a place code column, LEVEL one of {', '.join(LEVELS[:-1])}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jiesu_dispatch.learning ...`` (also ``jiesu learn ...``)."""
    parser = argparse.ArgumentParser(prog="jiesu learn", description="派单学习 / dispatch learning")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Carry out a parsed ``learn`` command."""
    url = database_url("dispatch", args.database_url, args.data_dir)
    try:
        if args.action == "import":
            return asyncio.run(_import(url, args))
        if args.action == "train":
            return asyncio.run(_train(url, args))
        return asyncio.run(_evaluate(url, args))
    except Problem as problem:
        print(f"{problem.title}: {problem.detail}", file=sys.stderr)
        return 2


# --- reading a CSV -------------------------------------------------------------------


def read_rows(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The CSV's rows as example fields (title, content, category, unit, channel, place)."""
    text_columns = [c.strip() for c in args.text_columns.split(",") if c.strip()]
    places = dict(p.split("=", 1) for p in args.place_column)
    unknown = set(places) - set(LEVELS[:-1])
    if unknown:
        raise SystemExit(f"未知层级 / unknown place level(s): {', '.join(sorted(unknown))}")
    with args.csv.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        wanted = [*text_columns, args.label_column, args.unit_column, args.channel_column]
        missing = [
            c for c in [*wanted, *places.values()] if c and c not in (reader.fieldnames or [])
        ]
        if missing:
            raise SystemExit(f"CSV 缺少列 / missing column(s): {', '.join(missing)}")
        title_col, content_cols = (
            (text_columns[0], text_columns[1:]) if len(text_columns) > 1 else (None, text_columns)
        )
        for row in reader:
            label = (row[args.label_column] or "").strip()
            if not label:
                continue
            yield {
                "title": (row[title_col] or "").strip() if title_col else "",
                "content": " ".join((row[c] or "").strip() for c in content_cols),
                "category": label,
                "lead_unit_id": (row[args.unit_column] or "").strip() or None
                if args.unit_column
                else None,
                "channel": (row[args.channel_column] or "").strip() or None
                if args.channel_column
                else None,
                **{f"{lv}_code": (row[col] or "").strip() or None for lv, col in places.items()},
            }


# --- commands ------------------------------------------------------------------------


async def _import(url: str, args: argparse.Namespace) -> int:
    source = args.source or f"import:{args.csv.name}"
    rows = []
    for n, row in enumerate(read_rows(args)):
        # The same file imported again replaces its rows (and leaves the fingerprint alone).
        rows.append(
            {
                "id": uuid.uuid5(IMPORT_NAMESPACE, f"{source}:{n}"),
                "source": source,
                "train_only": args.train_only,
                **row,
            }
        )
    columns = {k for r in rows for k in r}
    rows = [{k: r.get(k) for k in sorted(columns)} for r in rows]
    async with _uow(url) as uow:
        for i in range(0, len(rows), BATCH):
            await uow.learning.upsert_examples(rows[i : i + BATCH])
        await uow.commit()
    labels = len({r["category"] for r in rows})
    what = "条类别描述（仅训练）" if args.train_only else "条历史"
    print(
        f"已导入 {len(rows)} {what}，{labels} 个类别 / imported {len(rows)} "
        f"{'training-only rows' if args.train_only else 'rows'}, {labels} labels ({source})"
    )
    return 0


async def _train(url: str, args: argparse.Namespace) -> int:
    kinds = ("category", "unit") if args.kind == "all" else (args.kind,)
    params = dict(_param(p) for p in args.param)
    unknown = (
        set(params) - set(TextParams.__dataclass_fields__) - set(UnitParams.__dataclass_fields__)
    )
    if unknown:
        raise SystemExit(f"未知参数 / unknown parameter(s): {', '.join(sorted(unknown))}")
    try:
        text_params = TextParams(
            **{k: v for k, v in params.items() if k in TextParams.__dataclass_fields__}
        )
        unit_params = UnitParams(
            **{k: v for k, v in params.items() if k in UnitParams.__dataclass_fields__}
        )
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"参数无效 / bad parameter: {exc}") from exc
    out = {}
    for kind in kinds:
        started = time.perf_counter()
        async with _uow(url) as uow:
            if args.scheduled and not await _try_lock(uow, kind):
                continue
            try:
                trained = await service.train(
                    uow,
                    kind=kind,
                    by=os.environ.get("USER", "cli") if not args.scheduled else "schedule",
                    folds=args.folds,
                    text_params=text_params,
                    unit_params=unit_params,
                    alias=None if args.no_alias else "challenger",
                    force=args.force,
                )
            except Problem as problem:
                if args.scheduled and problem.status == 409:
                    continue
                raise
            await uow.commit()
        elapsed = time.perf_counter() - started
        if trained.skipped:
            print(f"{kind}: 数据未变，跳过训练 / data unchanged, version {trained.version} kept")
            continue
        alias = "" if args.no_alias else "，设为 challenger / now the challenger"
        print(f"{kind}: 版本 {trained.version}{alias} ({elapsed:.1f} s)")
        print(render(trained.report))
        out[kind] = {
            "version": trained.version,
            "seconds": round(elapsed, 2),
            "report": trained.report,
        }
    if args.json and out:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


async def _evaluate(url: str, args: argparse.Namespace) -> int:
    async with _uow(url) as uow:
        row = await uow.learning.version(args.model, artefact=True)
    if row is None:
        raise SystemExit(f"模型版本不存在 / no model version {args.model}")
    model = decode(row.kind, bytes(row.artefact))
    rows = list(read_rows(args))
    if row.kind == "category":
        guesses = [model.predict_proba(Document(r["title"], r["content"]))[0] for r in rows]
        truth = [r["category"] for r in rows]
    else:
        if not args.unit_column:
            raise SystemExit("单位模型需要 --unit-column / a unit model needs --unit-column")
        rows = [r for r in rows if r["lead_unit_id"]]
        guesses = []
        for r in rows:
            place = Place(
                r.get("grid_code"),
                r.get("community_code"),
                r.get("street_code"),
                r.get("district_code"),
            )
            s = model.suggest(r["category"], place, r.get("channel"))
            guesses.append((s.unit, s.share) if s else ("", 0.0))
        truth = [r["lead_unit_id"] for r in rows]
    rep = report(truth, [g for g, _ in guesses], [c for _, c in guesses])
    rep["model"] = {"version": row.version, "kind": row.kind, "fingerprint": row.fingerprint}
    print(render(rep))
    path = args.json or Path(f"evaluation-v{row.version}.json")
    path.write_text(json.dumps(rep, ensure_ascii=False, indent=2))
    print(f"报告已写入 / report written to {path}")
    return 0


def _param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``: the value as JSON (numbers, true, null), else as a plain string."""
    key, _, value = text.partition("=")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value.strip()


async def _try_lock(uow: DispatchUnitOfWork, kind: str) -> bool:
    # One replica's scheduled run trains a kind at a time; the others skip.
    from sqlalchemy import text

    got = await uow.session.execute(
        text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"), {"k": f"model-train:{kind}"}
    )
    return bool(got.scalar_one())


class _uow:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(DatabaseSettings(url=url, pool_size=1, max_overflow=0))

    async def __aenter__(self) -> DispatchUnitOfWork:
        self.uow = DispatchUnitOfWork(session_factory(self.engine))
        return await self.uow.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.uow.__aexit__(*exc)  # type: ignore[arg-type]
        finally:
            await self.engine.dispose()
