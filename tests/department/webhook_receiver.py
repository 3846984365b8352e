"""A real webhook receiver on loopback for tests: records every request, answers with a
scripted status per request, and can hold a request until released."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    """One request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes
    answered: int

    def verified(self, secret: str) -> Any:
        """The payload, once its signature checks out with the ``standardwebhooks`` package."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """``answers``: statuses for the first requests (then 200); ``fail_times``: each
    ``webhook-id`` is answered 500 that many times, then 200 (other events' deliveries do
    not use up the failures); ``hold_first``: the first request waits until ``release``."""

    answers: list[int] = field(default_factory=list)
    fail_times: int = 0
    hold_first: bool = False
    received: list[Received] = field(default_factory=list)
    holding: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Where it listens."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def start(self) -> Receiver:
        """Listen on a free loopback port."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if receiver.hold_first and not receiver.holding.is_set():
                    receiver.holding.set()
                    receiver._release.wait(60)
                index = len(receiver.received)
                status = receiver.answers[index] if index < len(receiver.answers) else 200
                seen = sum(
                    r.headers.get("webhook-id") == self.headers.get("webhook-id")
                    for r in receiver.received
                )
                if seen < receiver.fail_times:
                    status = 500
                receiver.received.append(Received(dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def of(self, webhook_id: str) -> list[Received]:
        """The requests of one delivery."""
        return [r for r in self.received if r.headers.get("webhook-id") == webhook_id]

    def release(self) -> None:
        """Answer the held request."""
        self._release.set()

    def stop(self) -> None:
        """Stop listening."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
