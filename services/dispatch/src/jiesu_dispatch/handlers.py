"""Dispatch's service layer: routing received complaints, the queue, manual assignment, rules."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from jiesu_common.calendar import WorkingCalendar
from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import (
    ComplaintAnsweredV1,
    ComplaintAssignedV1,
    ComplaintMergedV1,
    ComplaintQueuedV1,
    ComplaintReceivedV1,
    ComplaintSummaryV1,
    ConsultationOpenedV1,
    ConsultationTrigger,
    DeadlinesV1,
    JurisdictionV1,
)
from jiesu_common.db.uow import UnitOfWork
from jiesu_common.http import Problem
from jiesu_dispatch.classifier import classify
from jiesu_dispatch.deadlines import (
    ClockPolicy,
    compute_deadlines,
    default_policy,
    with_override,
)
from jiesu_dispatch.directory import Directory, Jurisdiction
from jiesu_dispatch.learning.repository import LearningRepository
from jiesu_dispatch.learning.served import Guess, ServedModels
from jiesu_dispatch.learning.unit_model import Place, UnitSuggestion
from jiesu_dispatch.repository import ConsultationRepository, DispatchRepository
from jiesu_dispatch.routing import (
    Contested,
    RouteDecision,
    RoutingRule,
    Unroutable,
    route,
    rule_from_dict,
    validate_rules,
)
from jiesu_dispatch.settings import DispatchSettings

log = logging.getLogger(__name__)

QUEUE_DETAIL = {
    "unclassified": "无法识别诉求类别，需人工派单 / category could not be determined",
    "unknown_category": "诉求类别不存在 / unknown category",
    "no_rule": "没有适用的派单规则 / no routing rule applies",
    "unlocated": "无法确定属地 / location could not be resolved",
    "consultation_unresolved": "会商逾期且无属地兜底单位，需人工派单 / consultation undecided, no fallback",
}


class DispatchUnitOfWork(UnitOfWork):
    """A unit of work with dispatch's repository."""

    async def __aenter__(self) -> DispatchUnitOfWork:
        await super().__aenter__()
        self.dispatch = DispatchRepository(self.session, self.connection)
        self.consultations = ConsultationRepository(self.session)
        self.learning = LearningRepository(self.session, self.connection)
        return self


@dataclass(frozen=True)
class Clocks:
    """A category's deadlines in whole minutes (resolve in working days when set)."""

    accept_minutes: int
    contact_minutes: int
    resolve_minutes: int
    resolve_working_days: int | None


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


@dataclass
class Dispatcher:
    """What routing needs at hand: the directory, calendar and settings of this process."""

    directory: Directory
    settings: DispatchSettings
    calendar: WorkingCalendar
    _rules: tuple[float, list[RoutingRule]] | None = field(default=None, init=False, repr=False)
    _reply_policy: tuple[float, frozenset[tuple[str, str]]] | None = field(
        default=None, init=False, repr=False
    )
    # The learned models this process serves (loaded at start, switched on model.promoted).
    models: ServedModels = field(default_factory=ServedModels)

    async def remember_answer(
        self, payload: ComplaintAnsweredV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """An inquiry answered at intake (直办) is not routed; it is remembered, so that a
        callback finding it unsolved reopens it into a first assignment (重办)."""
        assert isinstance(uow, DispatchUnitOfWork)
        summary = payload.summary
        if summary is None:  # an answer published before answers carried their summary
            return
        given = payload.category_code  # the article's, which need not be a dispatch category
        category = given if given in self.directory.categories else self._category_of(summary)[0]
        await uow.dispatch.remember_complaint(
            _reference(payload.complaint_id, summary, self._locate(summary), category, "answered")
        )

    async def route_complaint(
        self, payload: ComplaintReceivedV1, event: CloudEvent, uow: UnitOfWork
    ) -> None:
        """Route a received complaint to its lead unit, or queue it for a human."""
        assert isinstance(uow, DispatchUnitOfWork)
        summary = payload.summary
        jurisdiction = self._locate(summary)
        category, candidates, champion = self._category_of(summary)
        known = await uow.dispatch.remember_complaint(
            _reference(payload.complaint_id, summary, jurisdiction, category, "received")
        )
        if not known:
            return
        await self._shadow(uow, payload.complaint_id, summary, champion)
        if category is None:
            await self.queue(uow, payload.complaint_id, 1, "unclassified", candidates)
            return
        rules = await self.rules(uow)
        decision = route(
            category_code=category, jurisdiction=jurisdiction, rules=rules, directory=self.directory
        )
        if isinstance(decision, Unroutable):
            await self.queue(uow, payload.complaint_id, 1, decision.reason, (category,))
            return
        if isinstance(decision, Contested):
            await self.convene(
                uow,
                complaint_id=payload.complaint_id,
                round_no=1,
                participants=decision.leads,
                reason="派单规则认定多家主办单位，需会商确定 / several units share this responsibility",
                trigger="tie",
                opened_by="system",
            )
            return
        await self.assign(
            uow,
            complaint_id=payload.complaint_id,
            round_no=1,
            summary=summary,
            jurisdiction=jurisdiction,
            category=category,
            decision=decision,
            mode="auto",
            assigned_by=None,
            note=None,
        )

    async def withdraw_complaint(self, payload: Any, event: CloudEvent, uow: UnitOfWork) -> None:
        """A withdrawn complaint leaves the queue; its open consultation is called off. A
        complaint merged into a master by hand leaves the same way (it follows its master)."""
        assert isinstance(uow, DispatchUnitOfWork)
        merged = isinstance(payload, ComplaintMergedV1)
        at = payload.merged_at if merged else payload.withdrawn_at
        if merged and await uow.dispatch.complaint(payload.complaint_id) is None:
            return  # merged at filing: never routed
        open_one = await uow.consultations.open_of(payload.complaint_id)
        if open_one is not None:
            await uow.consultations.update(
                open_one.consultation_id, status="cancelled", decided_at=at
            )
        await uow.dispatch.dequeue(payload.complaint_id)
        await uow.dispatch.update_complaint(
            payload.complaint_id, state="merged" if merged else "withdrawn"
        )

    async def assign_manually(
        self,
        *,
        complaint_id: uuid.UUID,
        lead_unit_id: str,
        co_unit_ids: tuple[str, ...],
        category_code: str | None,
        note: str | None,
        dispatcher: str,
        uow: DispatchUnitOfWork,
    ) -> ComplaintAssignedV1:
        """A dispatcher assigns (or reassigns) a complaint by hand: a new round."""
        self.check_units(lead_unit_id, co_unit_ids)
        ref = await uow.dispatch.complaint(complaint_id, for_update=True)
        if ref is None:
            raise Problem.not_found(f"诉求 / complaint {complaint_id}")
        if ref.state == "withdrawn":
            raise Problem.conflict("complaint-withdrawn", "诉求已撤回 / complaint was withdrawn")
        if ref.state == "consultation":
            raise Problem.conflict(
                "consultation-open",
                "该诉求正在会商，请在会商中作出决定 / decide the open consultation instead",
            )
        category = category_code or ref.category_code
        if category not in self.directory.categories:
            raise Problem.invalid(f"未知类别 / unknown category_code {category!r}")
        summary = ComplaintSummaryV1.model_validate(ref.summary)
        rule = RoutingRule(
            category=category, scope="manual", lead=lead_unit_id, co_units=co_unit_ids
        )
        decision = RouteDecision(
            lead_unit_id, tuple(c for c in co_unit_ids if c != lead_unit_id), rule
        )
        assigned = await self.assign(
            uow,
            complaint_id=complaint_id,
            round_no=ref.current_round + 1,
            summary=summary,
            jurisdiction=Jurisdiction(**ref.jurisdiction),
            category=category,
            decision=decision,
            mode="manual",
            assigned_by=dispatcher,
            note=note,
            previous=await self.previous_lead(uow, complaint_id),
        )
        await uow.dispatch.dequeue(complaint_id)
        await uow.commit()
        return assigned

    def _locate(self, summary: ComplaintSummaryV1) -> Jurisdiction:
        where = summary.location
        found = self.directory.locate(
            lat=where.lat, lon=where.lon, grid_code=where.grid_code, address=where.address
        )
        if found.is_located:
            return found
        # Callers often give the place only in their own words: look for a known name there.
        return self.directory.locate(address=f"{summary.title or ''} {summary.content}")

    async def suggest(self, complaint_id: uuid.UUID, *, uow: DispatchUnitOfWork) -> dict[str, Any]:
        """The classifier's top categories for a complaint, each with the routing rule that
        would apply to it here (or why none does), for the dispatcher to choose from."""
        ref = await uow.dispatch.complaint(complaint_id)
        if ref is None:
            raise Problem.not_found(f"诉求 / complaint {complaint_id}")
        summary = ComplaintSummaryV1.model_validate(ref.summary)
        jurisdiction = Jurisdiction(**ref.jurisdiction)
        champion = self.models.guess("champion", summary.title or "", summary.content)
        if champion is not None:
            ranked = self._known(champion.ranked)
            confidence, threshold = champion.confidence, self.settings.learning_min_confidence
        else:
            result = classify(
                f"{summary.title or ''} {summary.content}",
                self.directory.categories.values(),
                min_confidence=self.settings.classifier_min_confidence,
            )
            ranked = list(result.candidates)
            confidence, threshold = result.confidence, self.settings.classifier_min_confidence
        given = summary.category_code
        if given in self.directory.categories and given not in dict(ranked):
            ranked.insert(0, (given, 1.0))  # the category the operator chose comes first
        rules = await self.rules(uow)
        return {
            "complaint_id": complaint_id,
            "classifier_confidence": round(confidence, 3),
            "min_confidence": threshold,
            "model_version": champion.version if champion else None,
            "suggestions": [
                _suggestion(
                    code,
                    round(share, 3),
                    route(
                        category_code=code,
                        jurisdiction=jurisdiction,
                        rules=rules,
                        directory=self.directory,
                    ),
                    self.models.suggest_unit(
                        code,
                        Place(
                            jurisdiction.grid_code,
                            jurisdiction.community_code,
                            jurisdiction.street_code,
                            jurisdiction.district_code,
                        ),
                        summary.channel,
                    ),
                )
                for code, share in ranked
            ],
        }

    def check_units(self, lead: str, co_units: tuple[str, ...]) -> None:
        """422 unless every unit is in the directory."""
        unknown = [u for u in (lead, *co_units) if u not in self.directory.units]
        if unknown:
            raise Problem.invalid(f"未知单位 / unknown unit(s): {', '.join(unknown)}")

    async def previous_lead(self, uow: DispatchUnitOfWork, complaint_id: uuid.UUID) -> str | None:
        """The lead unit of the complaint's latest round, if any."""
        rounds = await uow.dispatch.assignments_of(complaint_id)
        return rounds[-1].lead_unit_id if rounds else None

    def _category_of(
        self, summary: ComplaintSummaryV1
    ) -> tuple[str | None, tuple[str, ...], Guess | None]:
        """The category (None when unsure), up to three candidates, and the champion's guess.

        The learned champion, when one is served, decides; below the city's threshold the
        complaint goes to a human with its top three. Without one, the keyword classifier.
        """
        champion = self.models.guess("champion", summary.title or "", summary.content)
        if summary.category_code in self.directory.categories:
            return summary.category_code, (), champion
        if champion is not None:
            ranked = [(c, p) for c, p in self._known(champion.ranked)]
            candidates = tuple(c for c, _ in ranked[:3])
            if ranked and ranked[0][1] >= self.settings.learning_min_confidence:
                return ranked[0][0], candidates, champion
            return None, candidates, champion
        result = classify(
            f"{summary.title or ''} {summary.content}",
            self.directory.categories.values(),
            min_confidence=self.settings.classifier_min_confidence,
        )
        return result.category_code, tuple(code for code, _ in result.candidates), None

    def _known(self, ranked: tuple[tuple[str, float], ...]) -> list[tuple[str, float]]:
        """A model's labels as this directory's category codes (by code, else by name);
        labels the directory does not know are left out."""
        by_name = {c.name: c.code for c in self.directory.categories.values()}
        out = []
        for label, p in ranked:
            code = label if label in self.directory.categories else by_name.get(label)
            if code is not None:
                out.append((code, p))
        return out

    async def _shadow(
        self,
        uow: DispatchUnitOfWork,
        complaint_id: uuid.UUID,
        summary: ComplaintSummaryV1,
        champion: Guess | None,
    ) -> None:
        """With a challenger served, record its guess beside the champion's (it never acts)."""
        challenger = self.models.guess("challenger", summary.title or "", summary.content, top=1)
        if challenger is None:
            return
        await uow.learning.record_shadow(
            {
                "complaint_id": complaint_id,
                "champion_version": champion.version if champion else None,
                "champion_label": champion.label if champion else None,
                "champion_confidence": champion.confidence if champion else None,
                "challenger_version": challenger.version,
                "challenger_label": challenger.label,
                "challenger_confidence": challenger.confidence,
                "recorded_at": datetime.now(UTC),
            }
        )

    async def rules(self, uow: DispatchUnitOfWork) -> list[RoutingRule]:
        """The current routing rules, kept parsed for ``rules_ttl_s`` (a new version stored
        in this process is used at once; one stored by another replica within the TTL)."""
        now = time.monotonic()
        if self._rules is None or now - self._rules[0] > self.settings.rules_ttl_s:
            current = await uow.dispatch.current_rules()
            self._rules = (now, [rule_from_dict(r) for r in current.rules] if current else [])
        return self._rules[1]

    def forget_rules(self) -> None:
        """A new version was stored: read it before routing again."""
        self._rules = None
        self._reply_policy = None

    async def reply_review_required(
        self, uow: DispatchUnitOfWork, *, category: str, unit_id: str
    ) -> bool:
        """The city's reply-review policy (答复审核) for this category or lead unit, kept for
        ``rules_ttl_s`` like the routing rules."""
        now = time.monotonic()
        if self._reply_policy is None or now - self._reply_policy[0] > self.settings.rules_ttl_s:
            self._reply_policy = (now, frozenset(await uow.dispatch.reply_review_policy()))
        scopes = self._reply_policy[1]
        return ("category", category) in scopes or ("unit", unit_id) in scopes

    async def queue(
        self,
        uow: DispatchUnitOfWork,
        complaint_id: uuid.UUID,
        round_no: int,
        reason: str,
        candidates: tuple[str, ...],
    ) -> None:
        """Put the complaint in front of a human dispatcher (complaint.queued)."""
        now = datetime.now(UTC)
        detail = QUEUE_DETAIL.get(reason, reason)
        await uow.dispatch.enqueue(
            {
                "complaint_id": complaint_id,
                "round": round_no,
                "reason": reason,
                "detail": detail,
                "candidates": list(candidates),
                "queued_at": now,
            }
        )
        await uow.dispatch.update_complaint(complaint_id, state="queued")
        log.info("complaint queued for a dispatcher", extra={"reason": reason})
        uow.publish(
            ComplaintQueuedV1(
                complaint_id=complaint_id,
                round=round_no,
                reason=reason,
                detail=detail,
                queued_at=now,
                candidate_categories=candidates,
            )
        )

    def consultation_deadline(self, now: datetime) -> datetime:
        """When a consultation opened now falls back: 4 working hours by default."""
        if self.settings.consultation_deadline_s is not None:
            return now + timedelta(seconds=self.settings.consultation_deadline_s)
        return self.calendar.add_working_hours(now, self.settings.consultation_working_hours)

    async def convene(
        self,
        uow: DispatchUnitOfWork,
        *,
        complaint_id: uuid.UUID,
        round_no: int,
        participants: tuple[str, ...],
        reason: str,
        trigger: ConsultationTrigger,
        opened_by: str,
        deadline: datetime | None = None,
    ) -> uuid.UUID | None:
        """Open a consultation (会商) on the complaint; None when one is already open."""
        ref = await uow.dispatch.complaint(complaint_id)
        assert ref is not None
        now = datetime.now(UTC)
        consultation_id = uuid.uuid4()
        due = deadline or self.consultation_deadline(now)
        added = await uow.consultations.add(
            {
                "consultation_id": consultation_id,
                "complaint_id": complaint_id,
                "round": round_no,
                "trigger": trigger,
                "reason": reason,
                "participants": list(participants),
                "deadline": due,
                "status": "open",
                "opened_by": opened_by,
                "opened_at": now,
            }
        )
        if not added:
            return None
        await uow.dispatch.dequeue(complaint_id)
        await uow.dispatch.update_complaint(complaint_id, state="consultation")
        uow.publish(
            ConsultationOpenedV1(
                complaint_id=complaint_id,
                consultation_id=consultation_id,
                round=round_no,
                participants=participants,
                reason=reason,
                deadline=due,
                opened_at=now,
                trigger=trigger,
                opened_by=opened_by,
                category_code=ref.category_code,
                summary=ComplaintSummaryV1.model_validate(ref.summary),
            )
        )
        log.info("consultation opened", extra={"trigger": trigger, "round": round_no})
        return consultation_id

    async def assign(
        self,
        uow: DispatchUnitOfWork,
        *,
        complaint_id: uuid.UUID,
        round_no: int,
        summary: ComplaintSummaryV1,
        jurisdiction: Jurisdiction,
        category: str,
        decision: RouteDecision,
        mode: str,
        assigned_by: str | None,
        note: str | None,
        previous: str | None = None,
    ) -> ComplaintAssignedV1:
        """Record one round's assignment with its deadlines and publish complaint.assigned."""
        now = datetime.now(UTC)
        sla_class = self._sla_class(category, summary)
        deadlines = compute_deadlines(
            now,
            sla_class,
            policy=self._policy(sla_class, category),
            calendar=self.calendar,
            working_days=self.settings.working_days,
        )
        deadlines_v1 = DeadlinesV1(**asdict(deadlines))
        assignment_id = uuid.uuid4()
        assigned = ComplaintAssignedV1(
            complaint_id=complaint_id,
            assignment_id=assignment_id,
            round=round_no,
            lead_unit_id=decision.lead_unit_id,
            co_unit_ids=decision.co_unit_ids,
            category_code=category,
            sla_class=sla_class,
            deadlines=deadlines_v1,
            mode=mode,
            assigned_at=now,
            assigned_by=assigned_by,
            jurisdiction=JurisdictionV1(
                grid_code=jurisdiction.grid_code,
                community_code=jurisdiction.community_code,
                street_code=jurisdiction.street_code,
                district_code=jurisdiction.district_code,
            ),
            summary=summary,
            previous_lead_unit_id=previous,
            note=note,
            reply_review=await self.reply_review_required(
                uow, category=category, unit_id=decision.lead_unit_id
            ),
        )
        uow.publish(assigned)
        await uow.dispatch.record_assignment(
            {
                "id": assignment_id,
                "complaint_id": complaint_id,
                "round": round_no,
                "lead_unit_id": decision.lead_unit_id,
                "co_unit_ids": list(decision.co_unit_ids),
                "category_code": category,
                "sla_class": sla_class,
                "mode": mode,
                "deadlines": deadlines_v1.model_dump(mode="json"),
                "rule": asdict(decision.rule),
                "assigned_by": assigned_by,
                "note": note,
                "assigned_at": now,
            },
            # The event goes in with the assignment: one round trip for both.
            outbox=uow.take_outbox_rows(),
        )
        log.info(
            "complaint assigned",
            extra={"round": round_no, "lead_unit_id": decision.lead_unit_id, "mode": mode},
        )
        return assigned

    def clocks_of(self, sla_class: str, category: str) -> Clocks:
        """The clocks a category's assignments run on, as published in the catalog."""
        policy = self._policy(sla_class, category)
        working_days = policy.resolve_working_days if self.settings.working_days else None
        return Clocks(
            accept_minutes=_minutes(policy.accept),
            contact_minutes=_minutes(policy.contact),
            resolve_minutes=_minutes(policy.resolve),
            resolve_working_days=working_days,
        )

    def _policy(self, sla_class: str, category: str) -> ClockPolicy:
        """The class's default clocks, then the class's and the category's overrides."""
        policy = default_policy(sla_class)
        for key in (sla_class, category):
            override = self.settings.clocks.get(key)
            if override is not None:
                policy = with_override(policy, **override.model_dump())
        return policy

    def _sla_class(self, category: str, summary: ComplaintSummaryV1) -> str:
        # An operator-flagged emergency runs on the emergency clocks whatever its category.
        if summary.urgency == "emergency":
            return "emergency"
        return self.directory.categories[category].sla_class


async def replace_rules(
    *,
    rules: list[dict[str, Any]],
    note: str | None,
    expected_version: int | None,
    author: str,
    directory: Directory,
    uow: DispatchUnitOfWork,
) -> Any:
    """Validate and store a new version of the routing rules; returns the stored version."""
    try:
        parsed = [rule_from_dict(r) for r in rules]
    except (KeyError, TypeError, ValueError) as exc:
        raise Problem.invalid(f"规则格式无效 / malformed rule: {exc}") from exc
    problems = validate_rules(parsed, directory)
    if problems:
        raise Problem.invalid(
            "派单规则无效 / invalid routing rules", [{"msg": p} for p in problems]
        )
    current = await uow.dispatch.current_rules()
    version = current.version if current else 0
    if expected_version is not None and expected_version != version:
        raise Problem(
            412,
            "rules-version-mismatch",
            "规则版本已变更 / Precondition failed",
            f"current version is {version}, If-Match said {expected_version}",
        )
    stored = [asdict(r) | {"co_units": list(r.co_units)} for r in parsed]
    if not await uow.dispatch.add_rules_version(
        version=version + 1, rules=stored, note=note, created_by=author
    ):
        raise Problem.conflict("rules-concurrent-edit", "规则被同时修改 / edited concurrently")
    stored_row = await uow.dispatch.rules_version(version + 1)
    await uow.commit()
    return stored_row


def _suggestion(
    code: str,
    share: float,
    decision: RouteDecision | Contested | Unroutable,
    learned: UnitSuggestion | None = None,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "category_code": code,
        "confidence": share,
        "co_unit_ids": [],
        # Where no rule applies, the unit history would pick (never assigned by itself).
        "learned_unit": asdict(learned)
        if learned is not None and isinstance(decision, Unroutable)
        else None,
    }
    if isinstance(decision, RouteDecision):
        rule = decision.rule
        return {
            **base,
            "outcome": "route",
            "lead_unit_id": decision.lead_unit_id,
            "co_unit_ids": list(decision.co_unit_ids),
            "rule": {
                "category": rule.category,
                "scope": rule.scope,
                "lead": rule.lead,
                "co_units": list(rule.co_units),
            },
            "reason": None,
        }
    if isinstance(decision, Contested):
        return {
            **base,
            "outcome": "consultation",
            "lead_unit_id": None,
            "rule": None,
            "reason": ",".join(decision.leads),
        }
    return {
        **base,
        "outcome": "queue",
        "lead_unit_id": None,
        "rule": None,
        "reason": decision.reason,
    }


def _reference(
    complaint_id: uuid.UUID,
    summary: ComplaintSummaryV1,
    jurisdiction: Jurisdiction,
    category: str | None,
    state: str,
) -> dict[str, Any]:
    """The row dispatch keeps of a complaint it heard of (``remember_complaint``)."""
    return {
        "complaint_id": complaint_id,
        "summary": summary.model_dump(mode="json"),
        "jurisdiction": asdict(jurisdiction),
        "category_code": category,
        "state": state,
        "received_at": summary.received_at,
    }
