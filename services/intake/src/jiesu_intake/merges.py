"""Manual merge and unmerge of duplicates (重复件合并), and a merged complaint following its
master: closed with it, and its resident told (messages owed in the same transaction,
delivered after it by ``ResidentNotices``)."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from jiesu_common.auth import Principal
from jiesu_common.contracts import CloudEvent
from jiesu_common.contracts.events import ComplaintMergedV1, ComplaintStatus, ComplaintUnmergedV1
from jiesu_common.http import Problem
from jiesu_common.notify import Message, Notifier, NotifyError, Recipient, record_of
from jiesu_common.notify_store import deliver_due, retry_at
from jiesu_common.runtime import ServiceContext
from jiesu_intake import domain
from jiesu_intake.handlers import IntakeUnitOfWork, summary_of
from jiesu_intake.pii import PiiVault
from jiesu_intake.settings import PiiSettings

log = logging.getLogger(__name__)
NOTIFICATION_NAMESPACE = uuid.UUID("9d1c3b7e-4f2a-4e8b-a6d5-1c2b3a4d5e6f")
_DIGITS = re.compile(r"\d{7,}")
# What the resident is told: kind → (subject, text with {ticket_no} and {master_ticket_no}).
TEXTS = {
    "resident.merged": (
        "【12345】诉求合并办理",
        "您的诉求（工单 {ticket_no}）与工单 {master_ticket_no} 反映的是同一问题，已合并办理，"
        "办理结果将一并告知您。",
    ),
    "resident.master_closed": (
        "【12345】诉求办结",
        "与您的诉求（工单 {ticket_no}）合并办理的工单 {master_ticket_no} 已办结，"
        "您的诉求随之办结。如有异议请致电 12345。",
    ),
}


async def merge_complaint(
    *, complaint_id: uuid.UUID, master_id: uuid.UUID, note: str, principal: Principal, uow: Any
) -> Any:
    """合并: link an open complaint to an open master by hand; it then follows the master."""
    assert isinstance(uow, IntakeUnitOfWork)
    # Locked in one order (the lower id first), so two crossing merges cannot deadlock.
    rows = {}
    for key in sorted({complaint_id, master_id}):
        rows[key] = await uow.complaints.get(key, for_update=True)
    row, master = rows[complaint_id], rows[master_id]
    if row is None:
        raise Problem.not_found(f"诉求 / complaint {complaint_id}")
    if master is None:
        raise Problem.invalid(f"主工单不存在 / unknown master_id {master_id}")
    if master.status == ComplaintStatus.merged.value and master.duplicate_of is not None:
        master = await uow.complaints.get(master.duplicate_of, for_update=True)  # its root
        assert master is not None  # a foreign key
    try:
        domain.check_merge(
            complaint_id=complaint_id,
            status=ComplaintStatus(row.status),
            master_id=master.id,
            master_status=ComplaintStatus(master.status),
            has_duplicates=await uow.complaints.has_duplicates(complaint_id),
        )
    except domain.MergeRefused as refused:
        raise Problem(refused.status, refused.slug, refused.message, refused.message) from None
    now = datetime.now(UTC)
    event = uow.publish(
        ComplaintMergedV1(
            complaint_id=complaint_id,
            ticket_no=row.ticket_no,
            master_id=master.id,
            master_ticket_no=master.ticket_no,
            reason="manual",
            similarity=1.0,
            merged_at=now,
            merged_by=principal.subject,
            note=note,
        )
    )
    await uow.complaints.set_status(
        complaint_id,
        {
            "status": ComplaintStatus.merged.value,
            "duplicate_of": master.id,
            "status_detail": note,
            "updated_at": now,
        },
    )
    detail = {"master_id": str(master.id), "reason": "manual", "note": note}
    await _timeline(
        uow, complaint_id, event.id, event.type, now, detail | {"by": principal.subject}
    )
    await uow.complaints.owe_notifications(
        [_owed("resident.merged", row, master, now, about=event.id)]
    )
    await uow.commit()
    return await uow.complaints.get(complaint_id)


async def unmerge_complaint(
    *, complaint_id: uuid.UUID, note: str, principal: Principal, uow: Any
) -> Any:
    """撤销合并: the complaint stands on its own again; dispatch routes it anew."""
    assert isinstance(uow, IntakeUnitOfWork)
    row = await uow.complaints.get(complaint_id, for_update=True)
    if row is None:
        raise Problem.not_found(f"诉求 / complaint {complaint_id}")
    if row.status != ComplaintStatus.merged.value or row.duplicate_of is None:
        raise Problem.conflict("not-merged", "该诉求未被合并 / the complaint is not merged")
    now = datetime.now(UTC)
    event = uow.publish(
        ComplaintUnmergedV1(
            complaint_id=complaint_id,
            ticket_no=row.ticket_no,
            master_id=row.duplicate_of,
            note=note,
            unmerged_by=principal.subject,
            unmerged_at=now,
            summary=summary_of(dict(row._mapping)),
        )
    )
    await uow.complaints.set_status(
        complaint_id,
        {
            "status": ComplaintStatus.received.value,
            "duplicate_of": None,
            "status_detail": note,
            "updated_at": now,
        },
    )
    detail = {"master_id": str(row.duplicate_of), "note": note, "by": principal.subject}
    await _timeline(uow, complaint_id, event.id, event.type, now, detail)
    await uow.commit()
    return await uow.complaints.get(complaint_id)


async def close_duplicates(uow: IntakeUnitOfWork, master_id: uuid.UUID, event: CloudEvent) -> None:
    """The master closed: each complaint merged into it closes too, and its resident is told."""
    duplicates = await uow.complaints.duplicates_of(master_id, for_update=True)
    if not duplicates:
        return  # most complaints: nothing merged into them
    master = await uow.complaints.get(master_id)
    assert master is not None  # it just closed
    owed = []
    for dup in duplicates:
        await uow.complaints.set_status(
            dup.id,
            {
                "status": ComplaintStatus.closed.value,
                "status_detail": f"随主工单 {master.ticket_no} 办结 / closed with its master",
                "updated_at": event.time,
            },
        )
        await _timeline(
            uow,
            dup.id,
            uuid.uuid5(event.id, str(dup.id)),
            event.type,
            event.time,
            {"master_id": str(master_id), "with_master": True},
        )
        owed.append(_owed("resident.master_closed", dup, master, event.time, about=event.id))
    await uow.complaints.owe_notifications(owed)


async def _timeline(
    uow: IntakeUnitOfWork,
    complaint_id: uuid.UUID,
    event_id: uuid.UUID,
    event_type: str,
    at: datetime,
    detail: dict[str, Any],
) -> None:
    await uow.complaints.add_timeline(
        complaint_id=complaint_id,
        event_id=event_id,
        event_type=event_type,
        at=at,
        round_no=None,
        detail=detail,
    )


def _owed(kind: str, row: Any, master: Any, now: datetime, *, about: uuid.UUID) -> dict[str, Any]:
    return {
        "notification_id": uuid.uuid5(NOTIFICATION_NAMESPACE, f"{kind}:{row.id}:{about}"),
        "kind": kind,
        "complaint_id": row.id,
        "about": {"ticket_no": row.ticket_no, "master_ticket_no": master.ticket_no},
        "recipient_role": "resident",
        "status": "pending",
        "next_attempt_at": now,
        "created_at": now,
    }


class ResidentNotices:
    """Sends what residents are owed, with the number read from the vault at the moment of
    sending (never stored in clear), and records each outcome; retried with a growing delay."""

    def __init__(self, pii: PiiSettings, notifier: Notifier, *, max_attempts: int = 8) -> None:
        self.pii, self.notifier, self.max_attempts = pii, notifier, max_attempts
        self._vault: PiiVault | None = None

    @property
    def vault(self) -> PiiVault:
        """The vault, opened at the first send (a process that never sends needs no keys)."""
        if self._vault is None:
            self._vault = PiiVault(self.pii)
        return self._vault

    async def deliver_due(self, context: ServiceContext, *, now: datetime | None = None) -> int:
        """Lease, send and record the messages due now; how many were sent."""
        return await deliver_due(
            context.uow, lambda uow: uow.complaints, self._send, batch=50, lease_s=60, now=now
        )

    async def _send(self, row: Any) -> dict[str, Any]:
        recorded: dict[str, Any] = {}
        try:
            phone = (
                None
                if row.anonymous
                else self.vault.decrypt(row.phone_enc, context=row.complaint_id.bytes)
            )
            if not phone:
                raise NotifyError("no-address", "the resident left no phone number")
            subject, body = TEXTS[row.kind]
            message = Message(
                kind=row.kind,
                recipient=Recipient(phone=phone, role="resident"),
                subject=subject,
                body=body.format(**row.about),
                data={"complaint_id": str(row.complaint_id), **row.about},
            )
            recorded = record_of(message, channel=self.notifier.channel)
            done = await self.notifier.send(message)
        except NotifyError as exc:
            dead = row.attempts >= self.max_attempts or exc.code == "no-address"
            error = _DIGITS.sub("***", str(exc))[:500]
            return {
                **recorded,
                "status": "dead" if dead else "failed",
                "last_error": error,
                "next_attempt_at": None
                if dead
                else retry_at(datetime.now(UTC), row.attempts, first_s=30, cap_s=3600),
            }
        return {
            **recorded,
            "channel": done.channel,
            "status": "sent",
            "sent_at": datetime.now(UTC),
            "provider_id": done.provider_id,
            "next_attempt_at": None,
            "last_error": None,
        }
