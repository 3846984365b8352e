"""The notifier's adapters against real loopback servers, and masking."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr

from jiesu_common.notify import (
    EmailNotifier,
    FileNotifier,
    Message,
    NotifyError,
    NotifySettings,
    Recipient,
    SmsGatewayNotifier,
    mask_email,
    mask_phone,
    notifier_from,
    record_of,
)

PHONE = "13812345678"


def _message(**recipient: Any) -> Message:
    return Message(
        kind="escalation.reminder",
        recipient=Recipient(role="duty", name="王值班", **recipient),
        subject="催办",
        body="【催办】工单 20261202000001 已超时，请尽快办理。",
        data={"ticket_no": "20261202000001"},
    )


class _Gateway:
    """An SMS gateway on loopback: records what it was sent, fails the first ``failures``."""

    def __init__(self, failures: int = 0) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.failures = failures
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                gateway.received.append(
                    (json.loads(self.rfile.read(length)), self.headers.get("Authorization"))
                )
                if gateway.failures > 0:
                    gateway.failures -= 1
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"busy")
                    return
                answer = json.dumps({"id": f"sms-{len(gateway.received)}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"


@pytest.fixture
def gateway() -> Iterator[_Gateway]:
    g = _Gateway(failures=1)
    thread = threading.Thread(target=g.server.serve_forever, daemon=True)
    thread.start()
    yield g
    g.server.shutdown()
    g.server.server_close()


async def test_sms_adapter_posts_to_the_gateway_and_reports_its_failures(
    gateway: _Gateway,
) -> None:
    sms = SmsGatewayNotifier(gateway.url, "tok-1", sign="12345热线")
    with pytest.raises(NotifyError) as failed:
        await sms.send(_message(phone=PHONE))
    assert failed.value.code == "gateway-503"
    sent = await sms.send(_message(phone=PHONE))
    assert sent.channel == "sms" and sent.provider_id == "sms-2"
    body, authorization = gateway.received[-1]
    assert body == {
        "to": PHONE,
        "sign": "12345热线",
        "text": "【催办】工单 20261202000001 已超时，请尽快办理。",
        "kind": "escalation.reminder",
    }
    assert authorization == "Bearer tok-1"


async def test_sms_adapter_refuses_a_recipient_without_a_number_and_an_unreachable_gateway(
    gateway: _Gateway,
) -> None:
    with pytest.raises(NotifyError) as no_number:
        await SmsGatewayNotifier(gateway.url, "", sign="x").send(_message(email="a@b.cn"))
    assert no_number.value.code == "no-address"
    assert gateway.received == []
    gateway.server.shutdown()
    gateway.server.server_close()
    with pytest.raises(NotifyError) as unreachable:
        await SmsGatewayNotifier(gateway.url, "", sign="x", timeout_s=2).send(_message(phone=PHONE))
    assert unreachable.value.code == "gateway-unreachable"
    assert PHONE not in str(unreachable.value)


async def test_file_adapter_appends_one_json_line_per_message_with_the_number_masked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dev" / "notifications.jsonl"
    notifier = notifier_from(NotifySettings(adapter="file", file_path=str(path)))
    assert isinstance(notifier, FileNotifier)
    await notifier.send(_message(phone=PHONE))
    await notifier.send(_message(email="zhangsan@example.com"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["to"] for line in lines] == ["138****5678", "z***@example.com"]
    assert lines[0]["kind"] == "escalation.reminder" and lines[0]["to_role"] == "duty"
    assert lines[0]["data"] == {"ticket_no": "20261202000001"}
    assert PHONE not in path.read_text()


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP on loopback to accept one message."""

    received: ClassVar[list[str]] = []

    def handle(self) -> None:
        self.wfile.write(b"220 loopback ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line.decode().strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 loopback\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go ahead\r\n")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk.decode())
                type(self).received.append("".join(data))
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


async def test_email_adapter_sends_through_an_smtp_relay() -> None:
    _Smtp.received = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = NotifySettings(
            adapter="email",
            smtp_port=server.server_address[1],
            mail_from="hotline@city.example",
            smtp_password=SecretStr(""),
        )
        notifier = notifier_from(settings)
        assert isinstance(notifier, EmailNotifier)
        sent = await notifier.send(_message(email="head@unit.example"))
        with pytest.raises(NotifyError) as no_address:
            await notifier.send(_message(phone=PHONE))
    finally:
        server.shutdown()
        server.server_close()
    assert sent.channel == "email"
    assert no_address.value.code == "no-address"
    [mail] = _Smtp.received
    assert "To: head@unit.example" in mail and "From: hotline@city.example" in mail


async def test_disabled_adapter_sends_nothing() -> None:
    with pytest.raises(NotifyError) as caught:
        await notifier_from(NotifySettings(adapter="none")).send(_message(phone=PHONE))
    assert caught.value.code == "disabled"


def test_masking_keeps_no_full_number_or_address() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_phone("12345") == "***45"
    assert mask_phone(None) is None
    assert mask_email("zhangsan@example.com") == "z***@example.com"
    record = record_of(_message(phone=PHONE), channel="sms")
    assert record == {
        "kind": "escalation.reminder",
        "recipient": "138****5678",
        "recipient_name": "王值班",
        "recipient_role": "duty",
        "channel": "sms",
    }
