"""Delivering the escalation ladder's messages after the rung that owes them has committed.

The ticker writes one pending row per rung and recipient role in the transaction that
raises the rung. This worker leases due rows (``SKIP LOCKED``: any number of replicas),
finds the recipient among the unit's contacts in dispatch's directory, sends through the
deployment's notifier and records the outcome; a failure is tried again later, with a
growing delay, until the last attempt marks the message dead.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from jiesu_common.calendar import zone
from jiesu_common.identity import credentials_for
from jiesu_common.notify import Message, Notifier, NotifyError, Recipient, notifier_from, record_of
from jiesu_common.notify_store import deliver_due, retry_at
from jiesu_common.runtime import ServiceContext
from jiesu_common.settings import AuthSettings
from jiesu_metrics import domain
from jiesu_metrics.settings import MetricsSettings

log = logging.getLogger(__name__)
_DIGITS = re.compile(r"\d{7,}")


class ContactBook:
    """Units' contacts from dispatch's directory (asked with metrics' own identity), cached."""

    def __init__(
        self, *, dispatch_url: str, auth: AuthSettings, timeout_s: float, cache_s: float
    ) -> None:
        self.dispatch_url = dispatch_url.rstrip("/")
        self.auth, self.timeout_s, self.cache_s = auth, timeout_s, cache_s
        self._cache: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}

    async def contacts(self, unit_id: str) -> dict[str, dict[str, Any]]:
        """Role → contact (name, phone, email) of a unit."""
        cached = self._cache.get(unit_id)
        if cached is not None and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        headers = await credentials_for(self.auth, "metrics").headers()
        url = f"{self.dispatch_url}/v1/units/{unit_id}/contacts"
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise NotifyError("dispatch-unavailable", type(exc).__name__) from exc
        if response.status_code == 404:
            raise NotifyError("unknown-unit", unit_id)
        if response.status_code != 200:
            raise NotifyError("dispatch-unavailable", f"dispatch answered {response.status_code}")
        found = {c["role"]: c for c in response.json()["contacts"]}
        self._cache[unit_id] = (time.monotonic(), found)
        return found


class EscalationNotices:
    """Sends the owed messages of the ladder and records each outcome."""

    def __init__(
        self,
        settings: MetricsSettings,
        *,
        notifier: Notifier | None = None,
        contacts: ContactBook | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.escalation_notices
        self.notifier = notifier or notifier_from(settings.notify)
        self.contacts = contacts or ContactBook(
            dispatch_url=settings.dispatch_url,
            auth=settings.auth,
            timeout_s=settings.dispatch_timeout_s,
            cache_s=self.config.contacts_cache_s,
        )

    async def deliver_due(self, context: ServiceContext, *, now: datetime | None = None) -> int:
        """Lease, send and record the messages due now; how many were sent."""
        return await deliver_due(
            context.uow,
            lambda uow: uow.metrics,
            self._send,
            batch=self.config.batch,
            lease_s=self.config.lease_s,
            now=now,
        )

    async def _send(self, row: Any) -> dict[str, Any]:
        """Send one message; the columns that record what happened."""
        about = row.about
        recorded: dict[str, Any] = {}
        try:
            contact = (await self.contacts.contacts(about["unit_id"])).get(row.recipient_role)
            if contact is None:
                raise NotifyError("no-contact", f"{about['unit_id']} has no {row.recipient_role}")
            message = self._message(row, contact)
            recorded = record_of(message, channel=self.notifier.channel)
            sent = await self.notifier.send(message)
        except NotifyError as exc:
            return {**recorded, **self._failed(row, exc)}
        log.info(
            "notification sent",
            extra={"kind": row.kind, "to": recorded["recipient"], "channel": sent.channel},
        )
        return {
            **recorded,
            "channel": sent.channel,
            "status": "sent",
            "sent_at": datetime.now(UTC),
            "provider_id": sent.provider_id,
            "next_attempt_at": None,
            "last_error": None,
        }

    def _message(self, row: Any, contact: dict[str, Any]) -> Message:
        about = row.about
        deadline = about.get("deadline")
        local = (
            datetime.fromisoformat(deadline).astimezone(zone(self.settings.timezone))
            if deadline
            else None
        )
        subject, body = domain.escalation_text(
            about["level"],
            ticket_no=row.ticket_no,
            unit_id=about["unit_id"],
            clock=about["clock"],
            deadline=local.strftime("%Y-%m-%d %H:%M") if local else "—",
        )
        return Message(
            kind=row.kind,
            recipient=Recipient(
                name=contact.get("name"),
                phone=contact.get("phone"),
                email=contact.get("email"),
                role=row.recipient_role,
            ),
            subject=subject,
            body=body,
            data={
                "notification_id": str(row.notification_id),
                "complaint_id": str(row.complaint_id),
                "ticket_no": row.ticket_no,
                **{k: about.get(k) for k in ("unit_id", "round", "clock", "level")},
            },
        )

    def _failed(self, row: Any, exc: NotifyError) -> dict[str, Any]:
        now = datetime.now(UTC)
        dead = row.attempts >= self.config.max_attempts
        error = _DIGITS.sub("***", f"{exc.code}: {exc.detail}" if exc.detail else exc.code)
        log.warning(
            "notification failed",
            extra={"kind": row.kind, "error": exc.code, "attempts": row.attempts, "dead": dead},
        )
        return {
            "status": "dead" if dead else "failed",
            "last_error": error[:500],
            "next_attempt_at": None
            if dead
            else retry_at(
                now, row.attempts, first_s=self.config.retry_first_s, cap_s=self.config.retry_cap_s
            ),
        }
