"""A cancellation a library raises of its own must not end a supervised loop silently."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from jiesu_common.messaging.consumer import ConsumerRunner
from jiesu_common.runtime import _supervise
from jiesu_common.settings import KafkaSettings


def _runner(*, request_timeout_ms: int) -> ConsumerRunner:
    return ConsumerRunner(
        settings=KafkaSettings(request_timeout_ms=request_timeout_ms),
        group_id="g",
        topics=["t"],
        handlers={},
        uow_factory=lambda: None,  # type: ignore[arg-type,return-value]
        producer=None,  # type: ignore[arg-type]
        client_id="c",
    )


async def test_a_stray_cancellation_restarts_the_loop() -> None:
    calls = 0

    async def run() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncio.CancelledError  # as aiokafka's stop re-raises its fetch task's

    ctx: Any = SimpleNamespace(stopping=False)
    await asyncio.wait_for(_supervise(run, "consumer-g", ctx), 5)
    assert calls == 2


async def test_a_real_cancellation_still_ends_the_loop() -> None:
    started = asyncio.Event()

    async def run() -> None:
        started.set()
        await asyncio.sleep(60)

    ctx: Any = SimpleNamespace(stopping=False)
    task = asyncio.create_task(_supervise(run, "consumer-g", ctx))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_client_stopping_with_its_own_cancellation_does_not_end_the_runner() -> None:
    runner = _runner(request_timeout_ms=1000)

    class Client:
        stopped = False

        async def stop(self) -> None:
            self.stopped = True
            raise asyncio.CancelledError

    client = Client()
    await runner._stop_client(client)  # type: ignore[arg-type]
    assert client.stopped


async def test_a_client_that_never_stops_is_left_after_the_request_timeout() -> None:
    runner = _runner(request_timeout_ms=200)

    class Stuck:
        async def stop(self) -> None:
            await asyncio.sleep(60)

    await asyncio.wait_for(runner._stop_client(Stuck()), 5)  # type: ignore[arg-type]
