"""Intake's service layer: one function per command or event, one unit of work each."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jiesu_common.auth import Principal
from jiesu_common.contracts import CloudEvent, EventPayload
from jiesu_common.contracts.events import (
    ComplaintAnsweredV1,
    ComplaintMergedV1,
    ComplaintReceivedV1,
    ComplaintStatus,
    ComplaintSummaryV1,
    ComplaintSupplementedV1,
    ComplaintWithdrawnV1,
    LocationV1,
    MaskedCallerV1,
)
from jiesu_common.db.uow import UnitOfWork
from jiesu_common.http import Problem
from jiesu_common.logging import log_context
from jiesu_intake import domain, proactive
from jiesu_intake.knowledge.repository import ArticleRepository
from jiesu_intake.open311.queries import Open311Repository
from jiesu_intake.pii import PiiVault, mask_email, mask_name, mask_phone
from jiesu_intake.repository import (
    ApiKeyRepository,
    ComplaintRepository,
    IdempotencyRepository,
    candidate_query,
)
from jiesu_intake.schemas import ComplaintCreate, ComplaintCreated
from jiesu_intake.settings import IntakeSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileComplaint:
    """Command: file a complaint on behalf of a principal."""

    body: ComplaintCreate
    principal: Principal
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Filed:
    """Result of filing: the answer and whether it replays an earlier one."""

    answer: ComplaintCreated
    replayed: bool


class IntakeUnitOfWork(UnitOfWork):
    """A unit of work with intake's repositories."""

    async def __aenter__(self) -> IntakeUnitOfWork:
        await super().__aenter__()
        self.complaints = ComplaintRepository(self.session, self.connection)
        self.idempotency = IdempotencyRepository(self.session, self.connection)
        self.api_keys = ApiKeyRepository(self.session)
        self.open311 = Open311Repository(self.session)
        self.articles = ArticleRepository(self.session, self.connection)
        return self

    async def commit(self) -> None:
        """Commit; the rows this transaction locked are free again."""
        await super().commit()
        self.complaints.release_locks()

    async def rollback(self) -> None:
        """Abandon the transaction; the rows it locked are free again."""
        self.complaints.release_locks()
        await super().rollback()


async def file_complaint(
    cmd: FileComplaint, *, uow: IntakeUnitOfWork, vault: PiiVault, settings: IntakeSettings
) -> Filed:
    """Validate, de-duplicate, number and persist a complaint; emit received or merged."""
    origin = proactive.origin_of(cmd.principal, cmd.body)
    scope = cmd.principal.app_id or cmd.principal.subject
    now = datetime.now(UTC)
    day = now.astimezone(ZoneInfo(settings.timezone)).date()
    ticket_no: str | None = None
    complaint_id = uuid.uuid4()
    row = _complaint_row(cmd, complaint_id, now, vault)
    row.update(proactive=origin.proactive, hotspot_key=cmd.body.hotspot_key)
    row["grid_code"] = origin.grid_code
    # An answered inquiry (in words or from an article) is no duplicate of anything, nor is
    # a hot spot's case a repeat of its own cluster.
    answered = cmd.body.answer is not None or cmd.body.article_id is not None
    candidates = (
        None if answered or origin.proactive == "hotspot" else _candidate_query(row, now, settings)
    )
    found: list[domain.DuplicateCandidate] | None = None
    if cmd.idempotency_key:
        request_hash = _request_hash(cmd.body)
        ticket_no, found = await uow.idempotency.claim_with_ticket(
            scope, cmd.idempotency_key, request_hash, day=day, candidates=candidates
        )
        if ticket_no is None:
            return await _replay(uow, scope, cmd.idempotency_key, request_hash)
    match = None
    answer_text, article = cmd.body.answer, None
    if cmd.body.article_id is not None:  # 直办 from the knowledge base: inquiries only
        article = await _answering_article(cmd, day, uow)
        answer_text = answer_text or article.body
        row["article_id"], row["article_version"] = article.article_id, article.version
    if answer_text is not None:
        row["status"] = ComplaintStatus.answered.value
        row["status_detail"] = answer_text
    elif candidates is not None:
        if found is None:
            found = await uow.complaints.duplicate_candidates(candidates)
        match = _find_duplicate(row, found, settings)
    if match is not None:
        row["status"] = ComplaintStatus.merged.value
        row["duplicate_of"] = match.master_id
    # Numbered by a sequence per day (no lock held to the commit, so filings never queue
    # behind one counter), with the idempotency claim or in the insert itself; a filing
    # that fails leaves a gap. The complaint, its first timeline entry, its event and the
    # answer kept under the key go in one transaction (with a key: in one statement).
    event_id = uuid.uuid4()
    event_type, detail = _own_event_kind(row, match, answer_text)
    if article is not None:
        detail.update(article_id=str(article.article_id), article_version=article.version)
    if ticket_no is None:
        ticket_no = await uow.complaints.add_with_first_event(
            row, day=day, event_id=event_id, event_type=event_type, detail=detail
        )
    row["ticket_no"] = ticket_no
    answer = ComplaintCreated(
        complaint_id=complaint_id,
        ticket_no=ticket_no,
        status=row["status"],
        duplicate_of=row.get("duplicate_of"),
    )
    _publish_own_event(uow, row, now, match, answer=answer_text, event_id=event_id, article=article)
    if cmd.idempotency_key:
        outbox = uow.take_outbox_rows()
        assert outbox is not None
        await uow.complaints.add_numbered_with_answer(
            row,
            event_id=event_id,
            event_type=event_type,
            detail=detail,
            scope=scope,
            key=cmd.idempotency_key,
            answer=answer.model_dump(mode="json"),
            outbox=outbox,
        )
    await uow.commit()
    with log_context(complaint_id=str(complaint_id)):
        log.info(
            "complaint filed",
            extra={
                "ticket_no": answer.ticket_no,
                "status": answer.status,
                "channel": row["channel"],
            },
        )
    return Filed(answer=answer, replayed=False)


async def _answering_article(cmd: FileComplaint, day: date, uow: IntakeUnitOfWork) -> Any:
    from jiesu_intake.knowledge.service import answering_article  # it builds on this module

    assert cmd.body.article_id is not None
    return await answering_article(
        cmd.body.article_id, cmd.body.article_version, today=day, uow=uow
    )


def _request_hash(body: ComplaintCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _replay(uow: IntakeUnitOfWork, scope: str, key: str, request_hash: str) -> Filed:
    stored = await _stored_answer(uow, scope, key, request_hash)
    return Filed(answer=ComplaintCreated.model_validate(stored), replayed=True)


async def _stored_answer(
    uow: IntakeUnitOfWork, scope: str, key: str, request_hash: str
) -> dict[str, Any]:
    """The answer first given under an idempotency key, if this request is the same one."""
    stored = await uow.idempotency.get(scope, key)
    if stored is None or stored.response is None:
        raise Problem.conflict("idempotency-in-progress", "同一幂等键的请求仍在处理 / retry later")
    if stored.request_hash != request_hash:
        raise Problem(
            422,
            "idempotency-key-reused",
            "幂等键已用于不同请求 / Idempotency-Key reused",
            "该 Idempotency-Key 已用于内容不同的请求 / the key was used with a different body",
        )
    response: dict[str, Any] = stored.response
    return response


def _complaint_row(
    cmd: FileComplaint, complaint_id: uuid.UUID, now: datetime, vault: PiiVault
) -> dict[str, Any]:
    body, caller = cmd.body, cmd.body.caller
    context = complaint_id.bytes
    phone_hash = vault.phone_hash(caller.phone) if caller.phone else None
    return {
        "id": complaint_id,
        "status": ComplaintStatus.received.value,
        "status_round": 0,
        "channel": body.channel,
        "kind": body.kind,
        "urgency": body.urgency,
        "title": body.title,
        "content": body.content,
        "category_code": body.category_code,
        "caller_name_enc": vault.encrypt(caller.name, context=context),
        "caller_phone_enc": vault.encrypt(caller.phone, context=context),
        "caller_phone_hash": phone_hash,
        "caller_ref": vault.caller_ref(phone_hash, str(complaint_id)),
        "caller_name_masked": mask_name(caller.name),
        "caller_phone_masked": mask_phone(caller.phone),
        "caller_email_enc": vault.encrypt(caller.email, context=context),
        "caller_email_masked": mask_email(caller.email),
        "anonymous": caller.anonymous,
        "confidential": caller.confidential,
        "address": body.location.address,
        "lat": body.location.lat,
        "lon": body.location.lon,
        "grid_code": body.location.grid_code,
        "attachments": [str(url) for url in body.attachments],
        "attributes": body.attributes,
        "external_ref": body.external_ref,
        "app_id": cmd.principal.app_id,
        "created_by": cmd.principal.subject,
        "duplicate_of": None,
        "created_at": now,
        "updated_at": now,
    }


def _candidate_query(
    row: dict[str, Any], now: datetime, settings: IntakeSettings
) -> list[Any] | None:
    dup = settings.duplicates
    return candidate_query(
        since=now - timedelta(hours=dup.window_hours),
        phone_hash=row["caller_phone_hash"],
        category_code=row["category_code"],
        lat=row["lat"],
        lon=row["lon"],
        radius_m=dup.radius_m,
    )


def _find_duplicate(
    row: dict[str, Any], candidates: list[domain.DuplicateCandidate], settings: IntakeSettings
) -> domain.DuplicateMatch | None:
    dup = settings.duplicates
    return domain.find_duplicate(
        text=(row["title"] or "") + row["content"],
        phone_hash=row["caller_phone_hash"],
        category_code=row["category_code"],
        lat=row["lat"],
        lon=row["lon"],
        candidates=candidates,
        radius_m=dup.radius_m,
        min_similarity=dup.min_similarity,
    )


def _own_event_kind(
    row: dict[str, Any], match: domain.DuplicateMatch | None, answer: str | None
) -> tuple[str, dict[str, Any]]:
    """The type of the event a filing emits, and what the timeline notes of it."""
    if answer is not None:
        return ComplaintAnsweredV1.event_type, {"channel": row["channel"], "answer": answer}
    if match is None:
        return ComplaintReceivedV1.event_type, {"channel": row["channel"]}
    return ComplaintMergedV1.event_type, {"master_id": str(match.master_id), "reason": match.reason}


def _publish_own_event(
    uow: IntakeUnitOfWork,
    row: dict[str, Any],
    now: datetime,
    match: domain.DuplicateMatch | None,
    *,
    answer: str | None,
    event_id: uuid.UUID,
    article: Any = None,
) -> None:
    payload: EventPayload
    if answer is not None:
        payload = ComplaintAnsweredV1(
            complaint_id=row["id"],
            ticket_no=row["ticket_no"],
            answer=answer,
            answered_by=row["created_by"],
            answered_at=now,
            category_code=row["category_code"] or (article.category_code if article else None),
            summary=summary_of(row),
            article_id=article.article_id if article else None,
            article_version=article.version if article else None,
            article_title=article.title if article else None,
        )
    elif match is None:
        payload = ComplaintReceivedV1(
            complaint_id=row["id"],
            summary=summary_of(row),
            external_ref=row["external_ref"],
            app_id=row["app_id"],
        )
    else:
        payload = ComplaintMergedV1(
            complaint_id=row["id"],
            ticket_no=row["ticket_no"],
            master_id=match.master_id,
            master_ticket_no=match.matched.ticket_no,
            reason=match.reason,
            similarity=match.similarity,
            merged_at=now,
        )
    uow.publish(payload, event_id=event_id)


def summary_of(row: dict[str, Any]) -> ComplaintSummaryV1:
    """What the bus may carry about a complaint: no raw name or phone."""
    return ComplaintSummaryV1(
        ticket_no=row["ticket_no"],
        channel=row["channel"],
        kind=row["kind"],
        urgency=row["urgency"],
        title=row["title"],
        content=row["content"],
        category_code=row["category_code"],
        location=LocationV1(
            address=row["address"], lat=row["lat"], lon=row["lon"], grid_code=row["grid_code"]
        ),
        caller=MaskedCallerV1(
            caller_ref=row["caller_ref"],
            name_masked=row["caller_name_masked"],
            phone_masked=row["caller_phone_masked"],
            anonymous=row["anonymous"],
            confidential=row["confidential"],
        ),
        attachments=tuple(row["attachments"]),
        received_at=row["created_at"],
        attributes={k: v if isinstance(v, str) else tuple(v) for k, v in row["attributes"].items()},
        proactive=row.get("proactive"),
        hotspot_key=row.get("hotspot_key"),
    )


async def withdraw_complaint(
    *, complaint_id: uuid.UUID, reason: str, principal: Principal, uow: IntakeUnitOfWork
) -> Any:
    """The resident withdraws: a terminal state; dispatch drops it from its queue."""
    row = await _own_complaint(uow, complaint_id, principal)
    if ComplaintStatus(row.status) in domain.CLOSED_FOR_DUPLICATES:
        raise Problem.conflict(
            "complaint-not-withdrawable",
            f"诉求状态为 {row.status}，不能撤回 / a {row.status} complaint cannot be withdrawn",
        )
    await _withdraw(uow, complaint_id, reason, datetime.now(UTC))
    await uow.commit()
    return await uow.complaints.get(complaint_id)


@dataclass(frozen=True)
class SupplementComplaint:
    """Command: the resident adds to a complaint after filing (a comment, photos, a verdict).

    ``ends_matter``: the resident's side considers it over (fixed, or no longer wanted);
    ``wants_reopen``: the resident says a resolved complaint is not fixed.
    """

    complaint_id: uuid.UUID
    principal: Principal
    note: str
    attachments: tuple[str, ...] = ()
    ends_matter: bool = False
    wants_reopen: bool = False
    external_status: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Supplemented:
    """What a supplement did: the event it emitted, and whether that was a withdrawal."""

    event_id: uuid.UUID
    withdrawn: bool
    replayed: bool = False


async def supplement_complaint(cmd: SupplementComplaint, *, uow: IntakeUnitOfWork) -> Supplemented:
    """Record the resident's later word; before resolution "it is over" withdraws it."""
    scope = cmd.principal.app_id or cmd.principal.subject
    request_hash = _supplement_hash(cmd)
    if cmd.idempotency_key and not await uow.idempotency.claim(
        scope, cmd.idempotency_key, request_hash
    ):
        stored = await _stored_answer(uow, scope, cmd.idempotency_key, request_hash)
        return Supplemented(uuid.UUID(stored["event_id"]), stored["withdrawn"], replayed=True)
    row = await _own_complaint(uow, cmd.complaint_id, cmd.principal)
    now = datetime.now(UTC)
    outcome = domain.supplement_outcome(
        ComplaintStatus(row.status), ends_matter=cmd.ends_matter, wants_reopen=cmd.wants_reopen
    )
    if outcome == "withdraw":
        event = await _withdraw(uow, row.id, cmd.note, now)
    else:
        event = uow.publish(
            ComplaintSupplementedV1(
                complaint_id=row.id,
                ticket_no=row.ticket_no,
                note=cmd.note,
                intent=outcome,
                attachments=cmd.attachments,
                app_id=cmd.principal.app_id,
                external_status=cmd.external_status,
                supplemented_at=now,
            )
        )
        await uow.complaints.add_timeline(
            complaint_id=row.id,
            event_id=event.id,
            event_type=event.type,
            at=now,
            round_no=None,
            detail={"note": cmd.note, "intent": outcome, "external_status": cmd.external_status},
        )
        await uow.complaints.set_status(row.id, {"updated_at": now})
    answer = Supplemented(event_id=event.id, withdrawn=outcome == "withdraw")
    if cmd.idempotency_key:
        await uow.idempotency.store(
            scope,
            cmd.idempotency_key,
            row.id,
            {"event_id": str(answer.event_id), "withdrawn": answer.withdrawn},
        )
    await uow.commit()
    return answer


def _supplement_hash(cmd: SupplementComplaint) -> str:
    fields = [str(cmd.complaint_id), cmd.note, list(cmd.attachments), cmd.ends_matter]
    canonical = json.dumps([*fields, cmd.wants_reopen, cmd.external_status], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _own_complaint(
    uow: IntakeUnitOfWork, complaint_id: uuid.UUID, principal: Principal
) -> Any:
    """The complaint, row-locked; an app sees only its own (others are 'not found')."""
    row = await uow.complaints.get(complaint_id, for_update=True)
    if row is None or (principal.is_app and row.app_id != principal.app_id):
        raise Problem.not_found(f"诉求 / complaint {complaint_id}")
    return row


async def _withdraw(
    uow: IntakeUnitOfWork, complaint_id: uuid.UUID, reason: str, now: datetime
) -> CloudEvent:
    event = uow.publish(
        ComplaintWithdrawnV1(complaint_id=complaint_id, reason=reason, withdrawn_at=now)
    )
    await uow.complaints.set_status(
        complaint_id,
        {"status": ComplaintStatus.withdrawn.value, "status_detail": reason, "updated_at": now},
    )
    await uow.complaints.add_timeline(
        complaint_id=complaint_id,
        event_id=event.id,
        event_type=event.type,
        at=now,
        round_no=None,
        detail={"reason": reason},
    )
    return event
