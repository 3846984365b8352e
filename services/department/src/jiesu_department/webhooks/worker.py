"""The delivery worker: sends queued webhooks, signed per Standard Webhooks, with retries.

Runs in every department process. It claims due deliveries with a lease (``FOR UPDATE
SKIP LOCKED`` in a short transaction, so no transaction stays open while a receiver
answers), sends each one with ``httpx`` to the address its host resolved to *and was
checked for* at that moment (DNS rebinding cannot swap in an internal address), then
records the outcome: delivered, due again after the backoff, or dead. A process killed
mid-send leaves its claims to run out; the restarted one sends them again with the same
``webhook-id`` (at least once). It sleeps until a local commit queues deliveries, the next
retry falls due, or, at most, the idle poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from datetime import UTC, datetime

import httpx
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from jiesu_common.db.engine import raw_connection
from jiesu_department.settings import WebhookSettings
from jiesu_department.webhooks import repository as queue
from jiesu_department.webhooks.rules import RetryPolicy
from jiesu_department.webhooks.targets import Target, TargetRefused, check_target

log = logging.getLogger(__name__)

WEBHOOK_ATTEMPTS = Counter(
    "jiesu_webhook_attempts_total",
    "Webhook delivery attempts by what they came to",
    ["outcome"],  # delivered | retry | dead | superseded
)
PRUNE_INTERVAL_S = 3600.0
USER_AGENT = "Jiesu-Webhooks/1.0"


class DeliveryWorker:
    """Sends due deliveries, ``concurrency`` at a time; ``run`` until ``stop``."""

    name = "webhook-delivery"

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        settings: WebhookSettings,
        development: bool,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._development = development
        self._transport = transport
        self._policy = RetryPolicy(
            base_s=settings.retry_base_s,
            factor=settings.retry_factor,
            cap_s=settings.retry_cap_s,
            max_attempts=settings.max_attempts,
        )
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()
        self._inflight: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None
        self._pruned_at = 0.0

    def wake(self) -> None:
        """Look for due deliveries now."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and send until stopped; database errors are logged and retried."""
        unregister = queue.register_waker(self.wake)
        # No proxies from the environment: a proxy would connect to the name again itself.
        self._client = httpx.AsyncClient(
            transport=self._transport,
            timeout=self._settings.timeout_s,
            follow_redirects=False,
            trust_env=False,
        )
        backoff = 0.5
        try:
            while not self._stopping:
                # Cleared before looking: a wake-up during the look wakes the next wait.
                self._wake.clear()
                try:
                    claimed = await self._claim()
                    wait = 0.0 if claimed else await self._idle_wait()
                    await self._prune_now_and_then()
                    backoff = 0.5
                except Exception:
                    log.warning("webhook worker: database unavailable; retrying", exc_info=True)
                    wait, backoff = backoff, min(backoff * 2, 15.0)
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            unregister()
            self._stopped.set()

    async def stop(self) -> None:
        """Stop claiming, let deliveries in flight finish (bounded), give back the rest."""
        self._stopping = True
        self._wake.set()
        pending = list(self._inflight.values())
        if pending:
            await asyncio.wait(pending, timeout=self._settings.timeout_s)
        unsent = [d for d, task in self._inflight.items() if not task.done()]
        for task in self._inflight.values():
            task.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        if unsent:
            with contextlib.suppress(Exception):
                async with raw_connection(self._engine) as conn:
                    await queue.release(conn, unsent)
        if self._client is not None:
            await self._client.aclose()

    async def _claim(self) -> int:
        free = self._settings.concurrency - len(self._inflight)
        if free <= 0 or self._stopping:
            return 0
        async with raw_connection(self._engine) as conn, conn.transaction():
            claimed = await queue.claim_due(conn, free, self._settings.lease_s)
        for delivery in claimed:
            task = asyncio.create_task(
                self._deliver(delivery), name=f"webhook-{delivery.webhook_id}"
            )
            self._inflight[delivery.delivery_id] = task
            task.add_done_callback(functools.partial(self._done, delivery.delivery_id))
        return len(claimed)

    def _done(self, delivery_id: uuid.UUID, _: asyncio.Task[None]) -> None:
        self._inflight.pop(delivery_id, None)
        self._wake.set()  # a slot is free

    async def _idle_wait(self) -> float:
        if len(self._inflight) >= self._settings.concurrency:
            return self._settings.idle_poll_s  # a finished send wakes the loop
        async with raw_connection(self._engine) as conn:
            due_in = await queue.seconds_to_next_due(conn)
        if due_in is None:
            return self._settings.idle_poll_s
        # A due row that was not claimed is locked by another worker: look again shortly.
        return min(max(due_in, 0.05), self._settings.idle_poll_s)

    async def _prune_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_INTERVAL_S:
            return
        self._pruned_at = now
        async with raw_connection(self._engine) as conn:
            removed = await queue.prune(conn, self._settings.retention_days)
        if removed:
            log.info("webhook log pruned %d finished deliveries past the retention", removed)

    async def _deliver(self, claimed: queue.Claimed) -> None:
        outcome = await self.attempt(claimed)
        retry_in = None if outcome.ok else self._policy.delay_after(claimed.attempt)
        try:
            async with raw_connection(self._engine) as conn, conn.transaction():
                status = await queue.record_outcome(
                    conn,
                    claimed,
                    outcome,
                    retry_in_s=retry_in,
                    disable_after=self._settings.disable_after_dead,
                )
        except Exception:
            # The claim runs out and the delivery is attempted again (same webhook-id).
            log.warning("webhook outcome not recorded", exc_info=True)
            return
        WEBHOOK_ATTEMPTS.labels(
            outcome={"pending": "retry", None: "superseded"}.get(status, status or "")
        ).inc()
        if status == "pending" and retry_in is not None:
            log.info(
                "webhook attempt failed; retrying in %.1fs",
                retry_in,
                extra={"webhook_id": claimed.webhook_id, "error": outcome.error},
            )

    async def attempt(self, claimed: queue.Claimed) -> queue.Outcome:
        """One signed POST of the delivery; never raises for the receiver's failures."""
        at = datetime.now(UTC)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                target = await check_target(
                    claimed.url, development=self._development, timeout_s=self._settings.timeout_s
                )
                status = await self._post(target, claimed, at)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except TargetRefused as refused:
            error = str(refused)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
        except Exception as exc:  # counted as a failed attempt, never an endless re-claim
            log.warning("webhook attempt failed unexpectedly", exc_info=True)
            error = f"{type(exc).__name__}: {exc}"[:500]
        return queue.Outcome(at, status, error, int((time.monotonic() - started) * 1000))

    async def _post(self, target: Target, claimed: queue.Claimed, at: datetime) -> int:
        assert self._client is not None
        body = claimed.body
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": target.url.netloc.decode("ascii"),
            "webhook-id": claimed.webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(claimed.secret).sign(claimed.webhook_id, at, body),
        }
        # TLS still checks the certificate against the name, not the pinned address.
        extensions = {"sni_hostname": target.url.host} if target.url.scheme == "https" else {}
        last: Exception | None = None
        for address in target.addresses:
            pinned = target.url.copy_with(host=str(address))
            try:
                async with self._client.stream(
                    "POST", pinned, content=body.encode(), headers=headers, extensions=extensions
                ) as answer:
                    return answer.status_code
            except httpx.ConnectError as exc:
                last = exc  # the next address of the name, if any
        assert last is not None
        raise last
