"""Broker plumbing: producer factory, topic creation, and what the broker says it holds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiokafka.admin.client as _admin_client_module
import aiokafka.client as _client_module
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.protocol.offset import OffsetRequest

from jiesu_common.settings import KafkaSettings

log = logging.getLogger(__name__)

LATEST = -1  # ListOffsets' "the end of the log"


class _MetadataRequestNoAutoCreate(MetadataRequest):  # type: ignore[misc]
    """A metadata request that never asks the broker to create the topics it names.

    aiokafka asks for auto-creation on every metadata request. A broker that honours it
    (Tansu does, with four partitions) would recreate a lost topic with the wrong layout
    the moment any client looked it up after a restart; every Jiesu topic is created
    explicitly, with its configured partitions, by ``ensure_topics``.
    """

    def __init__(
        self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = False
    ) -> None:
        super().__init__(topics, allow_auto_topic_creation)


def forbid_topic_auto_creation() -> None:
    """Make this process's Kafka clients never ask for topics to be auto-created (idempotent)."""
    _client_module.MetadataRequest = _MetadataRequestNoAutoCreate
    _admin_client_module.MetadataRequest = _MetadataRequestNoAutoCreate


def dlq_topic(topic: str, group: str) -> str:
    """Where a consumer group parks the messages of ``topic`` it could not handle."""
    return f"{topic}.dlq.{group}"


def new_producer(settings: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    """A producer that waits for the full ISR; idempotence stays optional (DESIGN §7)."""
    forbid_topic_auto_creation()
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        linger_ms=2,
        request_timeout_ms=settings.request_timeout_ms,
    )


async def ensure_topics(
    settings: KafkaSettings, topics: Iterable[str], *, attempts: int = 20
) -> list[str]:
    """Create missing topics with the configured partitions; returns the ones created."""
    forbid_topic_auto_creation()
    wanted = sorted(set(topics))
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if missing:
                await _create(admin, missing, settings)
            return missing
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


@dataclass
class BrokerState:
    """What the broker answered: its cluster id, and the end offset of each partition asked."""

    cluster_id: str
    # (topic, partition) → end offset; a topic the broker does not know has no entries.
    ends: dict[tuple[str, int], int] = field(default_factory=dict)
    missing_topics: set[str] = field(default_factory=set)


async def cluster_id_of(client: AIOKafkaClient) -> str | None:
    """The cluster id the broker behind ``client`` reports (None when it cannot be asked)."""
    try:
        node = client.get_random_node()
        if node is None:
            return None
        response = await client.send(node, _MetadataRequestNoAutoCreate([]))
    except (KafkaError, OSError, TimeoutError):
        return None
    return str(response.cluster_id) if response.cluster_id else None


class BrokerProbe:
    """A long-lived metadata client: the cluster id, which topics exist, their end offsets."""

    def __init__(self, settings: KafkaSettings, client_id: str) -> None:
        forbid_topic_auto_creation()
        self._settings = settings
        self._client_id = client_id
        self._reader: AIOKafkaConsumer | None = None
        self._client = AIOKafkaClient(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=client_id,
            request_timeout_ms=max(1000, int(settings.probe_interval_s * 1000) * 2),
        )
        self._started = False

    async def _ready(self) -> None:
        if not self._started:
            await self._client.bootstrap()
            self._started = True

    async def cluster_id(self) -> str:
        """The broker cluster's id (raises KafkaError/OSError when unreachable)."""
        return (await self._metadata([])).cluster_id or ""

    async def state(self, topics: Iterable[str]) -> BrokerState:
        """Cluster id and, for every partition of ``topics`` the broker has, its end offset."""
        response = await self._metadata(sorted(set(topics)))
        state = BrokerState(cluster_id=response.cluster_id or "")
        by_leader: dict[int, dict[str, list[tuple[int, int]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for error_code, topic, _internal, partitions in response.topics:
            if error_code != 0 or not partitions:
                state.missing_topics.add(topic)
                continue
            for _err, partition, leader, *_rest in partitions:
                by_leader[leader][topic].append((partition, LATEST))
        for leader, topic_data in by_leader.items():
            answer = await self._client.send(leader, OffsetRequest(-1, 0, list(topic_data.items())))
            for topic, parts in answer.topics:
                for partition, error_code, *info in parts:
                    if error_code == 0:
                        state.ends[(topic, partition)] = _listed_offset(answer.API_VERSION, info)
        return state

    async def event_id_at(self, topic: str, partition: int, offset: int) -> str | None:
        """The CloudEvent id of the record at ``offset`` (None when the broker lacks it).

        Some brokers (Tansu) under-report a partition's end by up to a batch, so an end
        below what was acknowledged is confirmed by reading the record itself.
        """
        if self._reader is None:
            self._reader = AIOKafkaConsumer(
                bootstrap_servers=self._settings.bootstrap_servers,
                client_id=f"{self._client_id}-check",
                enable_auto_commit=False,
                auto_offset_reset="none",
                request_timeout_ms=self._settings.request_timeout_ms,
            )
            await self._reader.start()
        tp = TopicPartition(topic, partition)
        self._reader.assign([tp])
        self._reader.seek(tp, offset)
        try:
            batches = await self._reader.getmany(tp, timeout_ms=2000, max_records=1)
        except KafkaError:  # out of range: the broker no longer has it
            return None
        for record in batches.get(tp, ()):
            if record.offset == offset:
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    return str(json.loads(record.value)["id"])
                return ""
        return None

    async def _metadata(self, topics: list[str]) -> Any:
        await self._ready()
        node = self._client.get_random_node()
        if node is None:
            await self._client.force_metadata_update()
            node = self._client.get_random_node()
        return await self._client.send(node, _MetadataRequestNoAutoCreate(topics))

    async def close(self) -> None:
        """Drop the connections."""
        with contextlib.suppress(Exception):
            await self._client.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader.stop()


def _listed_offset(version: int, info: list[Any]) -> int:
    # v0: [offsets]; v1–v3: timestamp, offset; v4+: timestamp, offset, leader epoch.
    if version == 0:
        return int(info[0][0]) if info[0] else 0
    return int(info[1])
