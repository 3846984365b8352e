"""The broker guard: knows whether the broker is the one that acknowledged our events.

One per process. It checks the broker every ``probe_interval_s`` (its cluster id; a
cheap metadata request). The relay sends only while the guard holds the broker
verified. After the broker was unreachable, answered with another cluster id, or
acknowledged an offset below an earlier one, the guard compares the broker's end offsets
with what it acknowledged (in the database, under a lock every relay batch shares) and
makes pending again every retained outbox row the broker no longer has, recreates the
topics, and only then lets the relay send. While the broker stays away it logs one
summary a minute, not a line per retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from aiokafka.errors import KafkaError
from sqlalchemy.ext.asyncio import AsyncEngine

from jiesu_common.messaging.kafka import BrokerProbe, ensure_topics
from jiesu_common.messaging.outbox import Repair, compare_and_repair, lock_for_repair
from jiesu_common.messaging.relay import BrokerRegressed, OutboxRelay
from jiesu_common.settings import KafkaSettings

log = logging.getLogger(__name__)

SUMMARY_EVERY_S = 60.0
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    KafkaError,
    BrokerRegressed,
    OSError,
    TimeoutError,
)


class BrokerGuard:
    """Holds the relay back until the broker is verified to hold what it acknowledged."""

    def __init__(
        self,
        *,
        settings: KafkaSettings,
        engine: AsyncEngine,
        client_id: str,
        topics: Sequence[str],
        produces: Sequence[str],
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._client_id = client_id
        self._topics = sorted(set(topics))  # created after every verification
        self._produces = sorted(set(produces))  # compared with the acks
        self._verified = asyncio.Event()
        self._attention = asyncio.Event()
        self._stopping = False
        self.cluster_id: str | None = None
        self.relay: OutboxRelay | None = None
        # Called after each verification with True when the broker is a new cluster.
        self.on_verified: list[Callable[[bool], Awaitable[None]]] = []
        self._down_since: float | None = None
        self._failures = 0
        self._last_summary = 0.0
        self._last_verify = 0.0
        self._probe: BrokerProbe | None = None

    @property
    def verified(self) -> bool:
        """The broker is verified: the relay may send."""
        return self._verified.is_set()

    @property
    def reachable(self) -> bool:
        """The last check reached the broker."""
        return self._down_since is None and self.cluster_id is not None

    async def wait_verified(self) -> None:
        """Return once the broker is verified."""
        await self._verified.wait()

    @staticmethod
    def is_broker_error(exc: BaseException) -> bool:
        """An error that means the broker is away or not what it was."""
        return isinstance(exc, BROKER_ERRORS)

    def suspect(self, reason: str) -> None:
        """Something went wrong talking to the broker: stop sending until it is verified."""
        if self._verified.is_set():
            log.warning("broker suspected (%s); holding the outbox until it is verified", reason)
            self._verified.clear()
        self._attention.set()

    async def run(self) -> None:
        """Check and verify until stopped."""
        self._the_probe()
        try:
            while not self._stopping:
                await self._step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._attention.wait(), self._settings.probe_interval_s)
                self._attention.clear()
        finally:
            await self._the_probe().close()

    async def stop(self) -> None:
        """Stop checking."""
        self._stopping = True
        self._attention.set()

    async def close(self) -> None:
        """Stop, and drop the probe's connections (when ``run`` was never started)."""
        await self.stop()
        if self._probe is not None:
            await self._probe.close()

    async def _step(self) -> None:
        try:
            if self._verified.is_set():
                cluster = await self._the_probe().cluster_id()
                stale = time.monotonic() - self._last_verify > self._settings.verify_interval_s
                if cluster == self.cluster_id and not stale:
                    self._back()
                    return
                self._verified.clear()
            await self.verify()
        except Exception as exc:
            if self._stopping:
                return
            self._verified.clear()
            self._down(exc)

    def _the_probe(self) -> BrokerProbe:
        if self._probe is None:
            self._probe = BrokerProbe(self._settings, f"{self._client_id}-guard")
        return self._probe

    async def verify(self) -> Repair:
        """Compare the broker with the acks, repair, recreate topics, then let the relay go."""
        probe = self._the_probe()
        async with self._engine.begin() as conn:
            # Under the lock every relay batch shares: nothing is half recorded meanwhile.
            await lock_for_repair(conn)
            state = await probe.state(self._produces)
            repair = await compare_and_repair(conn, state, probe.event_id_at)
        if repair.republished or repair.behind or repair.cluster_changed:
            log.warning("outbox: %s", repair.describe())
        created = await ensure_topics(self._settings, self._topics, attempts=3)
        if created:
            log.info("created topics %s", ", ".join(created))
        changed = self.cluster_id is not None and self.cluster_id != state.cluster_id
        self.cluster_id = state.cluster_id
        self._last_verify = time.monotonic()
        if self.relay is not None:
            self.relay.acks = dict(repair.acks)
        self._back()
        self._verified.set()
        if self.relay is not None:
            self.relay.wake()
        for callback in self.on_verified:
            await callback(changed or repair.cluster_changed)
        return repair

    def _down(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._failures += 1
        if self._down_since is None:
            self._down_since = now
            self._last_summary = now
            log.warning(
                "消息代理未确认 / broker not verified (%r): outbox events are held until it is",
                exc,
            )
        elif now - self._last_summary >= SUMMARY_EVERY_S:
            self._last_summary = now
            log.warning(
                "broker still not verified after %.0f s (%d failed checks; last: %r)",
                now - self._down_since,
                self._failures,
                exc,
            )

    def _back(self) -> None:
        if self._down_since is not None:
            log.warning(
                "broker verified again after %.0f s (%d failed checks)",
                time.monotonic() - self._down_since,
                self._failures,
            )
        self._down_since = None
        self._failures = 0
