"""Dispatch's learning tables: training history, the model registry and shadow predictions."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from jiesu_common.db.sql import FastRepository, values_of
from jiesu_dispatch import orm

VERSION_COLUMNS = [c for c in orm.model_versions.c if c.name != "artefact"]


@functools.lru_cache(maxsize=8)
def _remember_closed(columns: str, placeholders: str, n: int) -> str:
    # The example (replacing a closed-again complaint's) and the shadow's truth, one trip.
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns.split(", ") if c != "id")
    return (
        f"WITH s AS (UPDATE {orm.shadow_predictions.name} SET truth = ${n + 1}, "
        f"closed_at = ${n + 2} WHERE complaint_id = ${n + 3}) "
        f"INSERT INTO {orm.learning_examples.name} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}"
    )


class LearningRepository(FastRepository):
    """Reads and writes the learning tables inside one session (the close path on its
    connection)."""

    # --- history ------------------------------------------------------------------------

    async def upsert_examples(self, rows: list[dict[str, Any]]) -> None:
        """Store examples; a complaint closed again (after a reopen) replaces its example."""
        if not rows:
            return
        stmt = pg_insert(orm.learning_examples).values(rows)
        columns = {k: stmt.excluded[k] for k in rows[0] if k != "id"}
        await self.session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=columns))

    async def remember_closed(
        self, example: dict[str, Any], *, truth: str, closed_at: datetime
    ) -> None:
        """Store a closed complaint's example (``upsert_examples`` for one) and settle its
        shadow prediction with the category it closed in, in one trip."""
        columns, placeholders, args = values_of(orm.learning_examples, example)
        sql = _remember_closed(columns, placeholders, len(args))
        await (await self.conn()).execute(sql, *args, truth, closed_at, example["id"])

    async def examples(self) -> list[Any]:
        """Every kept example, in a stable order."""
        query = select(orm.learning_examples).order_by(orm.learning_examples.c.id)
        return list((await self.session.execute(query)).all())

    async def misroutes(self, start: datetime, end: datetime) -> list[Any]:
        """Examples closed in [start, end) whose first lead unit did not finish them."""
        t = orm.learning_examples
        query = select(t).where(t.c.misrouted, t.c.closed_at >= start, t.c.closed_at < end)
        return list((await self.session.execute(query.order_by(t.c.closed_at))).all())

    async def misroute_rates(self, start: datetime, end: datetime, by: str) -> list[Any]:
        """Per first lead unit (by="unit") or final category: closed, misrouted, in [start, end)."""
        t = orm.learning_examples
        key = t.c.first_lead_unit_id if by == "unit" else t.c.category
        query = (
            select(
                key.label("key"),
                func.count().label("closed"),
                func.count().filter(t.c.misrouted).label("misrouted"),
            )
            .where(t.c.closed_at >= start, t.c.closed_at < end, key.is_not(None))
            .group_by(key)
            .order_by(func.count().filter(t.c.misrouted).desc(), key)
        )
        return list((await self.session.execute(query)).all())

    async def forget_before(self, cutoff: datetime) -> int:
        """Drop history and shadow rows closed before the cutoff (the retention)."""
        t, s = orm.learning_examples, orm.shadow_predictions
        gone = await self.session.execute(delete(t).where(t.c.closed_at < cutoff))
        await self.session.execute(delete(s).where(s.c.closed_at < cutoff))
        return int(getattr(gone, "rowcount", 0) or 0)

    # --- registry -----------------------------------------------------------------------

    async def add_version(self, row: dict[str, Any]) -> int:
        """Register an immutable model version; returns its number."""
        stmt = orm.model_versions.insert().values(**row).returning(orm.model_versions.c.version)
        return int((await self.session.execute(stmt)).scalar_one())

    async def version(self, version: int, *, artefact: bool = False) -> Any | None:
        """One version (with its artefact when asked)."""
        columns = list(orm.model_versions.c) if artefact else VERSION_COLUMNS
        query = select(*columns).where(orm.model_versions.c.version == version)
        return (await self.session.execute(query)).first()

    async def versions(self, kind: str) -> list[Any]:
        """A kind's versions, newest first, without artefacts."""
        t = orm.model_versions
        query = select(*VERSION_COLUMNS).where(t.c.kind == kind).order_by(t.c.version.desc())
        return list((await self.session.execute(query)).all())

    async def latest_fingerprint(self, kind: str, fingerprint: str) -> int | None:
        """The newest version of the kind trained on exactly this data and parameters."""
        t = orm.model_versions
        query = select(func.max(t.c.version)).where(
            t.c.kind == kind, t.c.fingerprint == fingerprint
        )
        found = (await self.session.execute(query)).scalar_one_or_none()
        return int(found) if found is not None else None

    async def aliases(self, kind: str | None = None) -> dict[tuple[str, str], int]:
        """(kind, alias) → version."""
        t = orm.model_aliases
        query = select(t.c.kind, t.c.alias, t.c.version)
        if kind is not None:
            query = query.where(t.c.kind == kind)
        return {(r.kind, r.alias): r.version for r in (await self.session.execute(query)).all()}

    async def lock_aliases(self, kind: str) -> None:
        """Serialize alias changes of one kind (two admins promoting at once)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"model-alias:{kind}"}
        )

    async def set_alias(
        self,
        *,
        kind: str,
        alias: str,
        version: int,
        previous: int | None,
        action: str,
        by: str,
        note: str | None,
        at: datetime,
    ) -> None:
        """Point the alias at the version, and record the change."""
        stmt = pg_insert(orm.model_aliases).values(
            kind=kind, alias=alias, version=version, updated_by=by, updated_at=at
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["kind", "alias"],
                set_={"version": version, "updated_by": by, "updated_at": at},
            )
        )
        await self.record_alias_change(
            kind=kind,
            alias=alias,
            version=version,
            previous=previous,
            action=action,
            by=by,
            note=note,
            at=at,
        )

    async def record_alias_change(
        self,
        *,
        kind: str,
        alias: str,
        version: int,
        previous: int | None,
        action: str,
        by: str,
        note: str | None,
        at: datetime,
    ) -> None:
        """One line of an alias's history."""
        await self.session.execute(
            orm.model_alias_changes.insert().values(
                kind=kind,
                alias=alias,
                version=version,
                previous_version=previous,
                action=action,
                changed_by=by,
                note=note,
                changed_at=at,
            )
        )

    async def drop_alias(self, kind: str, alias: str) -> None:
        """The alias points nowhere any more."""
        t = orm.model_aliases
        await self.session.execute(delete(t).where(t.c.kind == kind, t.c.alias == alias))

    async def alias_changes(self, kind: str, alias: str) -> list[Any]:
        """An alias's changes, the latest first."""
        t = orm.model_alias_changes
        query = select(t).where(t.c.kind == kind, t.c.alias == alias).order_by(t.c.id.desc())
        return list((await self.session.execute(query)).all())

    # --- shadowing ----------------------------------------------------------------------

    async def record_shadow(self, row: dict[str, Any]) -> None:
        """The champion's and the challenger's guesses for a complaint (first time only)."""
        stmt = pg_insert(orm.shadow_predictions).values(**row)
        await self.session.execute(stmt.on_conflict_do_nothing(index_elements=["complaint_id"]))

    async def shadow_summary(self, challenger_version: int) -> Any:
        """Counts for a challenger: seen, agreed, settled, and right (each model)."""
        t = orm.shadow_predictions
        settled = t.c.truth.is_not(None)
        query = select(
            func.count().label("seen"),
            func.count().filter(t.c.champion_label == t.c.challenger_label).label("agreed"),
            func.count().filter(settled).label("settled"),
            func.count().filter(settled, t.c.champion_label == t.c.truth).label("champion_right"),
            func.count()
            .filter(settled, t.c.challenger_label == t.c.truth)
            .label("challenger_right"),
        ).where(t.c.challenger_version == challenger_version)
        return (await self.session.execute(query)).one()
