"""Broker plumbing: producer factory and topic creation at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from jiesu_common.settings import KafkaSettings

log = logging.getLogger(__name__)


def dlq_topic(topic: str, group: str) -> str:
    """Where a consumer group parks the messages of ``topic`` it could not handle."""
    return f"{topic}.dlq.{group}"


def new_producer(settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    """A producer that waits for the full ISR; idempotence stays optional (DESIGN §7)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        linger_ms=2,
        request_timeout_ms=15000,
    )


async def ensure_topics(
    settings: KafkaSettings, topics: Iterable[str], *, attempts: int = 20
) -> None:
    """Create missing topics with the configured partitions; tolerate ones that exist."""
    wanted = sorted(set(topics))
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if missing:
                await _create(admin, missing, settings)
            return
        except KafkaError as exc:
            log.warning("topic creation failed, retrying", extra={"error": repr(exc)})
            await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))
        finally:
            await admin.close()
    raise RuntimeError(f"could not create topics {wanted} on {settings.bootstrap_servers}")


async def _create(admin: AIOKafkaAdminClient, names: list[str], settings: KafkaSettings) -> None:
    new = [
        NewTopic(
            n, num_partitions=settings.partitions, replication_factor=settings.replication_factor
        )
        for n in names
    ]
    with contextlib.suppress(TopicAlreadyExistsError):
        await admin.create_topics(new)


async def broker_reachable(settings: KafkaSettings, timeout: float = 2.0) -> bool:
    """True when the bootstrap servers answer a metadata request."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=int(timeout * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.list_topics(), timeout)
        return True
    except (KafkaError, TimeoutError, OSError):
        return False
    finally:
        await admin.close()
