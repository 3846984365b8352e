"""Residents' self-review: issuing a link by SMS, and the resident's answer through it.

Issuing asks intake for the resident's number (callback-review's own identity, as a
reviewer's reveal does), records the link and the message, sends it through the notifier
and records the outcome; the number itself is never stored. Answering takes the path of
an operator's callback (``complete_review``) in the transaction that spends the link, so
a link answers once, and a refused answer spends nothing.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jiesu_common.calendar import zone
from jiesu_common.caller import fetch_caller
from jiesu_common.http import Problem
from jiesu_common.notify import Message, Notifier, NotifyError, Recipient, record_of
from jiesu_review import links
from jiesu_review.handlers import ReviewUnitOfWork, complete_review
from jiesu_review.settings import ReviewSettings

log = logging.getLogger(__name__)
RESIDENT = "resident:self-review"
PLATFORM = "platform"  # links the platform issued by itself when reviews fell due
_LONG_DIGITS = re.compile(r"\d{7,}")
_KINDS = {
    "inquiry": "咨询",
    "help": "求助",
    "complaint": "投诉",
    "report": "举报",
    "suggestion": "建议",
    "praise": "表扬",
}


class LinkUnusable(Exception):
    """The link cannot be used; ``reason`` names the page to show."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass(frozen=True)
class OpenLink:
    """A usable link: its row, its review and the masked summary shown to the resident."""

    link: Any
    review: Any
    summary: dict[str, str]


def link_secret(settings: ReviewSettings) -> bytes:
    """The signing key; 503 in production until one is configured."""
    configured = settings.self_review.secret.get_secret_value()
    fallback = settings.auth.jwt_secret.get_secret_value() if settings.auth.development else ""
    try:
        return links.derive_secret(configured, fallback)
    except ValueError:
        raise Problem(
            503,
            "self-review-unconfigured",
            "自评链接未配置 / self-review links are not configured",
            "set JIESU_REVIEW_SELF_REVIEW__SECRET",
        ) from None


async def issue_link(
    *,
    review_id: uuid.UUID,
    issued_by: str,
    settings: ReviewSettings,
    notifier: Notifier,
    uow_factory: Any,
) -> dict[str, Any]:
    """Issue a self-review link for a pending review and send it to the resident by SMS."""
    secret = link_secret(settings)
    async with uow_factory() as uow:
        review = await uow.reviews.get(review_id)
    if review is None:
        raise Problem.not_found(f"回访 / review {review_id}")
    if review.status != "pending":
        raise Problem.conflict("review-not-pending", "回访已结束 / the callback is over")
    phone = await _phone_of(review, settings)
    if not phone:
        raise Problem.conflict(
            "no-phone", "诉求人未留电话，无法发送自评链接 / the resident left no phone number"
        )
    link_row = _new_link(review, issued_by, settings)
    async with uow_factory() as uow:
        await uow.reviews.add_link(link_row)
        await uow.commit()
    sent = await _send_link(
        review,
        link_row,
        phone,
        secret=secret,
        settings=settings,
        notifier=notifier,
        uow_factory=uow_factory,
    )
    return {**link_row, "used_at": None, "revoked_at": None, "sent": sent}


async def issue_due_links(
    context: Any, *, settings: ReviewSettings, notifier: Notifier, now: datetime | None = None
) -> int:
    """The platform's own links (``self_review.auto_issue``): one per review that has fallen
    due without any link, sent only within the configured hours; how many were sent."""
    config = settings.self_review
    now = now or datetime.now(UTC)
    hour = now.astimezone(zone(settings.timezone)).hour
    if not config.auto_issue or not config.send_from_hour <= hour < config.send_until_hour:
        return 0
    try:
        secret = link_secret(settings)
    except Problem:
        log.warning("self-review links are not configured: none issued")
        return 0
    planned = []
    async with context.uow() as uow:
        for review in await uow.reviews.due_without_link(now, config.auto_issue_batch):
            link_row = _new_link(review, PLATFORM, settings, now=now)
            # One platform link per review (a unique index): of two replicas, one sends.
            if await uow.reviews.add_platform_link(link_row):
                planned.append((review, link_row))
        await uow.commit()
    sent = 0
    for review, link_row in planned:
        try:
            phone = await _phone_of(review, settings)
        except Problem as problem:
            phone, reason = None, problem.type.rsplit("/", 1)[-1]
        else:
            reason = "no-phone"
        if not phone:  # nobody to send it to: the link never works; reviewers call instead
            async with context.uow() as uow:
                await uow.reviews.revoke_link(link_row["link_id"], datetime.now(UTC))
                await uow.commit()
            log.info("self-review link not issued", extra={"reason": reason})
            continue
        outcome = await _send_link(
            review,
            link_row,
            phone,
            secret=secret,
            settings=settings,
            notifier=notifier,
            uow_factory=context.uow,
        )
        sent += outcome["status"] == "sent"
    return sent


async def _phone_of(review: Any, settings: ReviewSettings) -> str | None:
    caller = await fetch_caller(
        intake_url=settings.intake_url,
        auth=settings.auth,
        service="review",
        complaint_id=review.complaint_id,
        purpose=f"self-review:{review.review_id}",
        timeout_s=settings.intake_timeout_s,
    )
    phone = caller.get("phone")
    return str(phone) if phone else None


def _new_link(
    review: Any, issued_by: str, settings: ReviewSettings, *, now: datetime | None = None
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    return {
        "link_id": uuid.uuid4(),
        "review_id": review.review_id,
        "complaint_id": review.complaint_id,
        "issued_by": issued_by,
        "issued_at": now,
        "expires_at": now + timedelta(hours=settings.self_review.ttl_hours),
    }


async def _send_link(
    review: Any,
    link_row: dict[str, Any],
    phone: str,
    *,
    secret: bytes,
    settings: ReviewSettings,
    notifier: Notifier,
    uow_factory: Any,
) -> dict[str, Any]:
    """Record the message, send it, record the outcome; what the caller may see of it."""
    token = links.sign(link_row["link_id"], link_row["expires_at"], secret)
    url = f"{settings.self_review.base_url.rstrip('/')}/r/{token}"
    ticket = review.ticket_no or ""
    message = Message(
        kind="review.self_link",
        recipient=Recipient(phone=phone, role="resident"),
        subject=f"【12345】工单 {ticket} 办理评价",
        body=(
            f"【12345】您反映的诉求（工单 {ticket}）已办理答复，请点击链接评价："
            f"{url} 链接 {int(settings.self_review.ttl_hours)} 小时内有效，仅可使用一次。"
        ),
        data={
            "review_id": str(review.review_id),
            "link_id": str(link_row["link_id"]),
            "url": url,
        },
    )
    notification_id = uuid.uuid4()
    recorded = record_of(message, channel=notifier.channel)
    async with uow_factory() as uow:
        await uow.reviews.add_notification(
            {
                "notification_id": notification_id,
                "complaint_id": review.complaint_id,
                "about": {"review_id": str(review.review_id), "link_id": str(link_row["link_id"])},
                "status": "pending",
                "attempts": 1,
                "created_at": datetime.now(UTC),
                **{k: v for k, v in recorded.items() if k != "channel"},
            }
        )
        await uow.commit()
    try:
        sent = await notifier.send(message)
        outcome: dict[str, Any] = {
            "status": "sent",
            "channel": sent.channel,
            "sent_at": datetime.now(UTC),
            "provider_id": sent.provider_id,
        }
    except NotifyError as exc:
        error = _LONG_DIGITS.sub("***", f"{exc.code}: {exc.detail}" if exc.detail else exc.code)
        outcome = {"status": "failed", "channel": notifier.channel, "last_error": error[:500]}
        log.warning("self-review link not sent", extra={"error": exc.code})
    async with uow_factory() as uow:
        await uow.reviews.record_notification(notification_id, **outcome)
        await uow.commit()
    return {
        "status": outcome["status"],
        "channel": outcome["channel"],
        "recipient": recorded["recipient"],
        "error": outcome.get("last_error"),
    }


def claim_of(token: str, settings: ReviewSettings) -> links.LinkClaim:
    """The link a token names; a refusal names the page (tampered 404, expired 410)."""
    try:
        return links.verify(token, link_secret(settings))
    except links.LinkRefused as refused:
        raise LinkUnusable(refused.reason, 404 if refused.reason == "tampered" else 410) from None


async def open_link(
    token: str, *, settings: ReviewSettings, uow: ReviewUnitOfWork, lock: bool = False
) -> OpenLink:
    """A usable link with its review, or ``LinkUnusable``."""
    claim = claim_of(token, settings)
    link = await uow.reviews.link(claim.link_id, for_update=lock)
    if link is None:
        raise LinkUnusable("tampered", 404)  # signed by us, but never issued here
    if link.used_at is not None:
        raise LinkUnusable("used", 410)
    if link.revoked_at is not None:
        raise LinkUnusable("revoked", 410)
    if datetime.now(UTC) >= link.expires_at:
        raise LinkUnusable("expired", 410)
    review = await uow.reviews.get(link.review_id)
    if review is None or review.status != "pending":
        raise LinkUnusable("closed", 409)
    return OpenLink(link, review, await _summary(review, settings, uow))


async def answer_link(
    token: str,
    *,
    contacted: bool,
    resolved: bool,
    satisfaction: str,
    comment: str | None,
    settings: ReviewSettings,
    uow: ReviewUnitOfWork,
) -> Any:
    """The resident's answer: the review completes and the link is spent, in one commit."""
    opened = await open_link(token, settings=settings, uow=uow, lock=True)
    await uow.reviews.use_link(opened.link.link_id, datetime.now(UTC))
    try:
        return await complete_review(
            review_id=opened.review.review_id,
            contacted=contacted,
            resolved=resolved,
            satisfaction=satisfaction,
            comment=comment,
            reviewer=RESIDENT,
            uow=uow,
            self_reported=True,
        )
    except Problem as problem:  # completed by an operator meanwhile: nothing is spent
        if problem.status == 409:
            raise LinkUnusable("closed", 409) from None
        raise


async def _summary(review: Any, settings: ReviewSettings, uow: ReviewUnitOfWork) -> dict[str, str]:
    """What the page shows: ticket, when, kind, a shortened text and the reply, masked."""
    known = await uow.reviews.round_of(review.complaint_id, review.round)
    summary = known.summary if known else {}
    received = summary.get("received_at")
    day = (
        datetime.fromisoformat(received).astimezone(zone(settings.timezone)).strftime("%Y-%m-%d")
        if received
        else ""
    )
    return {
        "工单编号": review.ticket_no or summary.get("ticket_no") or "",
        "受理日期": day,
        "诉求类型": _KINDS.get(summary.get("kind", ""), ""),
        "诉求摘要": _shorten(summary.get("content"), 30),
        "办理答复": _shorten(review.reply, 80),
    }


def _shorten(text: str | None, length: int) -> str:
    if not text:
        return ""
    masked = _LONG_DIGITS.sub(lambda m: m.group()[:3] + "****" + m.group()[-2:], text)
    return masked if len(masked) <= length else masked[:length] + "…"
