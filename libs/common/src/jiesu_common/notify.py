"""One notifier for every message the platform sends to people outside it.

A service that owns a fact (metrics for the escalation ladder, callback-review for a
resident's self-review link) builds a ``Message`` and hands it to the deployment's
adapter, chosen by settings (``…_NOTIFY__ADAPTER``):

- ``sms``: an SMS gateway over HTTP — a JSON ``POST`` with a bearer token;
- ``email``: SMTP (stdlib ``smtplib``, run off the event loop);
- ``file``: development — one JSON line per message appended to a file;
- ``none``: nothing is sent (every send fails as ``disabled``).

Adapters never log a recipient's number or address in clear, and what a service records
of a send (``record_of``) carries only the masked recipient.
"""

from __future__ import annotations

import asyncio
import json
import os
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, Field, SecretStr

AdapterName = Literal["file", "sms", "email", "none"]


class NotifySettings(BaseModel):
    """Which adapter sends this deployment's messages, and how it reaches its gateway."""

    adapter: AdapterName = "file"
    # file: development; each message is one JSON line (recipient masked).
    file_path: str = ".jiesu/notifications.jsonl"
    # sms: the gateway's URL and bearer token; ``sign`` is the sender's signature (签名).
    sms_url: str = ""
    sms_token: SecretStr = SecretStr("")
    sms_sign: str = "12345热线"
    # email: the SMTP relay.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    mail_from: str = "noreply@jiesu.invalid"
    timeout_s: float = Field(default=10.0, gt=0)


@dataclass(frozen=True)
class Recipient:
    """Who a message is for: a name (kept) and a phone number and/or e-mail (never kept)."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    role: str | None = None  # duty | head | district_supervisor | resident …

    def masked(self) -> str:
        """The address as it may be recorded and logged: ``138****5678``, ``z***@x.cn``."""
        return mask_phone(self.phone) or mask_email(self.email) or "-"


@dataclass(frozen=True)
class Message:
    """One message: its kind (a template name), a subject line and the text."""

    kind: str
    recipient: Recipient
    subject: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)


class NotifyError(Exception):
    """A send that did not go out; ``code`` is stable (``no-address``, ``gateway-503`` …)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Sent:
    """What the adapter learned from a successful send."""

    channel: str
    provider_id: str | None = None


class Notifier(Protocol):
    """An adapter: send one message or raise ``NotifyError``."""

    channel: str

    async def send(self, message: Message) -> Sent:
        """Deliver ``message``; raise ``NotifyError`` when it did not go out."""
        ...


class FileNotifier:
    """Development: appends each message as a JSON line (recipient masked) to a file."""

    channel = "file"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    async def send(self, message: Message) -> Sent:
        """Append the message; one ``write`` of one line, so concurrent writers interleave whole lines."""
        line = json.dumps(
            {
                "at": datetime.now(UTC).isoformat(),
                "kind": message.kind,
                "to": message.recipient.masked(),
                "to_name": message.recipient.name,
                "to_role": message.recipient.role,
                "subject": message.subject,
                "body": message.body,
                "data": message.data,
            },
            ensure_ascii=False,
        )
        await asyncio.to_thread(self._append, line + "\n")
        return Sent(channel=self.channel)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


class SmsGatewayNotifier:
    """An SMS gateway over HTTP: ``POST {to, sign, text, kind}`` with a bearer token; 2xx is sent."""

    channel = "sms"

    def __init__(self, url: str, token: str, *, sign: str, timeout_s: float = 10.0) -> None:
        if not url:
            raise ValueError("the SMS adapter needs notify.sms_url")
        self.url, self.token, self.sign, self.timeout_s = url, token, sign, timeout_s

    async def send(self, message: Message) -> Sent:
        """Post the text to the gateway."""
        phone = message.recipient.phone
        if not phone:
            raise NotifyError("no-address", "recipient has no phone number")
        body = {"to": phone, "sign": self.sign, "text": message.body, "kind": message.kind}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(self.url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise NotifyError("gateway-unreachable", type(exc).__name__) from exc
        if not response.is_success:
            raise NotifyError(f"gateway-{response.status_code}", response.text[:200])
        provider_id: str | None = None
        try:
            answer = response.json()
            if isinstance(answer, dict) and answer.get("id") is not None:
                provider_id = str(answer["id"])
        except ValueError:
            pass
        return Sent(channel=self.channel, provider_id=provider_id)


class EmailNotifier:
    """E-mail through an SMTP relay (``smtplib`` in a worker thread)."""

    channel = "email"

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    async def send(self, message: Message) -> Sent:
        """Send the message as a plain-text UTF-8 e-mail."""
        address = message.recipient.email
        if not address:
            raise NotifyError("no-address", "recipient has no e-mail address")
        mail = EmailMessage()
        mail["From"] = self.settings.mail_from
        mail["To"] = address
        mail["Subject"] = message.subject
        mail.set_content(message.body)
        try:
            await asyncio.to_thread(self._deliver, mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError("smtp-failed", type(exc).__name__) from exc
        return Sent(channel=self.channel, provider_id=str(mail.get("Message-ID") or "") or None)

    def _deliver(self, mail: EmailMessage) -> None:
        s = self.settings
        smtp: smtplib.SMTP
        if s.smtp_ssl:
            smtp = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=s.timeout_s, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout_s)
        with smtp:
            if s.smtp_starttls and not s.smtp_ssl:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(mail)


class DisabledNotifier:
    """Sends nothing: every message is recorded as failed (``disabled``)."""

    channel = "none"

    async def send(self, message: Message) -> Sent:
        """Refuse."""
        raise NotifyError("disabled", "notifications are turned off (notify.adapter=none)")


def notifier_from(settings: NotifySettings) -> Notifier:
    """The adapter this deployment's settings choose."""
    if settings.adapter == "sms":
        return SmsGatewayNotifier(
            settings.sms_url,
            settings.sms_token.get_secret_value(),
            sign=settings.sms_sign,
            timeout_s=settings.timeout_s,
        )
    if settings.adapter == "email":
        return EmailNotifier(settings)
    if settings.adapter == "none":
        return DisabledNotifier()
    return FileNotifier(settings.file_path)


def record_of(message: Message, *, channel: str) -> dict[str, Any]:
    """The columns a service records of a send: kind, masked recipient, role, channel."""
    return {
        "kind": message.kind,
        "recipient": message.recipient.masked(),
        "recipient_name": message.recipient.name,
        "recipient_role": message.recipient.role,
        "channel": channel,
    }


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` → ``138****5678``; short numbers keep only their last two digits."""
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            digits = digits[len(prefix) :]
            break
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 2:
        return "*" * len(digits)
    return "*" * (len(digits) - 2) + digits[-2:]


def mask_email(email: str | None) -> str | None:
    """``zhangsan@example.com`` → ``z***@example.com``."""
    if not email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
