"""The images' shared entrypoint: which service it runs, and its health probe."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jiesu_common.container import ContainerError, main, probe_health, service_module


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_the_image_runs_the_named_service_listening_beyond_loopback() -> None:
    environ = {"JIESU_SERVICE": "intake"}

    assert service_module(environ) == "jiesu_intake"
    assert environ["JIESU_INTAKE_HOST"] == "0.0.0.0"


def test_a_host_set_for_the_container_is_kept() -> None:
    environ = {"JIESU_SERVICE": "review", "JIESU_REVIEW_HOST": "10.0.0.7"}

    service_module(environ)

    assert environ["JIESU_REVIEW_HOST"] == "10.0.0.7"


@pytest.mark.parametrize("service", ["", "Intake", "../intake", "survey"])
def test_an_image_without_a_known_service_refuses_to_start(service: str) -> None:
    with pytest.raises(ContainerError):
        service_module({"JIESU_SERVICE": service})


def test_the_entrypoint_exits_2_without_a_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JIESU_SERVICE", raising=False)

    assert main(["serve"]) == 2


def test_the_health_probe_passes_only_when_healthz_answers(health_port: int) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    assert probe_health("0.0.0.0", health_port) == 0
    assert probe_health("127.0.0.1", closed_port, timeout=1) == 1
