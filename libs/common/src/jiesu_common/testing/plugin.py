"""Pytest fixtures for real infrastructure (DESIGN §8).

PostgreSQL: ``JIESU_TEST_DATABASE_URL`` (``embedded`` forces the embedded one), else
127.0.0.1:5432 when reachable, else an embedded cluster for the session. Broker:
``JIESU_TEST_KAFKA_BOOTSTRAP``, else an embedded Tansu for the session.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from jiesu_common.db.engine import drop_database, ensure_database
from jiesu_common.embedded import EmbeddedBroker, EmbeddedPostgres


def _local_postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL (database ``postgres``) of the PostgreSQL server the tests use."""
    configured = os.environ.get("JIESU_TEST_DATABASE_URL", "")
    if configured and configured != "embedded":
        yield configured
        return
    if not configured and _local_postgres_reachable():
        yield "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", durable=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of the Kafka-protocol broker the tests use."""
    configured = os.environ.get("JIESU_TEST_KAFKA_BOOTSTRAP")
    if configured:
        yield configured
        return
    broker = EmbeddedBroker(log_path=Path(tmp_path_factory.mktemp("broker")) / "tansu.log")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def private_kafka_bootstrap(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A broker of this test's own, for tests that run services on the real topic names.

    The session broker carries other tests' events on those topics; a service's consumer
    group would read them too. With ``JIESU_TEST_KAFKA_BOOTSTRAP`` set, that broker is used.
    """
    if os.environ.get("JIESU_TEST_KAFKA_BOOTSTRAP"):
        yield kafka_bootstrap
        return
    broker = EmbeddedBroker(log_path=Path(tmp_path_factory.mktemp("broker")) / "tansu.log")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the same server."""
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


DatabaseFactory = Callable[[str], Awaitable[str]]


@pytest.fixture
async def new_database(pg_server_url: str) -> AsyncIterator[DatabaseFactory]:
    """Create uniquely named empty databases; dropped after the test."""
    created: list[str] = []

    async def make(prefix: str) -> str:
        url = database_url(pg_server_url, f"t_{prefix}_{uuid.uuid4().hex[:10]}")
        await ensure_database(url)
        created.append(url)
        return url

    yield make
    for url in created:
        await drop_database(url)


@pytest.fixture
def unique_topic() -> Callable[[str], str]:
    """Topic names no other test uses."""
    return lambda prefix: f"test.{prefix}.{uuid.uuid4().hex[:8]}"
