"""How long a consumer asks the broker to hold its fetches: busy, relaxed, background, idle."""

from types import SimpleNamespace
from typing import Any

import pytest

from jiesu_common.messaging.consumer import ConsumerRunner
from jiesu_common.settings import KafkaSettings


def _runner(
    settings: KafkaSettings, *, on_critical_path: bool, background: bool = False
) -> ConsumerRunner:
    return ConsumerRunner(
        settings=settings,
        group_id="g",
        topics=["t"],
        handlers={},
        uow_factory=lambda: None,  # type: ignore[arg-type,return-value]
        producer=None,  # type: ignore[arg-type]
        client_id="c",
        on_critical_path=on_critical_path,
        background=background,
    )


def _wait_after(runner: ConsumerRunner, idle: float) -> Any:
    # Only the fetcher's wait is read and written (aiokafka has no public setter).
    consumer = SimpleNamespace(_fetcher=SimpleNamespace(_fetch_max_wait_ms=None))
    runner._pace_fetches(consumer, idle=idle)  # type: ignore[arg-type]
    return consumer._fetcher._fetch_max_wait_ms


@pytest.mark.parametrize(
    ("critical", "background", "idle", "expected"),
    [
        (True, False, 0.0, 40),  # events flowing, a resident's complaint waits on this group
        (False, False, 0.0, 300),  # events flowing, a status view residents look at
        (False, True, 0.0, 2000),  # events flowing, a group nobody waits on: held as if idle
        (True, False, 4.9, 40),
        (False, False, 6.0, 2000),  # quiet: all hold fetches long
        (True, False, 6.0, 2000),
        (False, True, 6.0, 2000),
    ],
)
def test_fetch_wait_follows_the_path_and_the_quiet(
    critical: bool, background: bool, idle: float, expected: int
) -> None:
    settings = KafkaSettings(
        fetch_max_wait_ms=40,
        fetch_max_wait_relaxed_ms=300,
        fetch_max_wait_idle_ms=2000,
        fetch_idle_after_s=5.0,
    )
    runner = _runner(settings, on_critical_path=critical, background=background)
    assert _wait_after(runner, idle) == expected


def test_each_group_fetches_at_the_pace_of_whoever_waits_on_it() -> None:
    from jiesu_department.consumers import consumer_specs as department
    from jiesu_dispatch.consumers import consumer_specs as dispatch
    from jiesu_intake.consumers import consumer_specs as intake
    from jiesu_metrics.consumers import consumer_specs as metrics
    from jiesu_review.consumers import consumer_specs as review

    specs = [
        *intake(),
        *dispatch(_AnyAttr()),
        *department(),
        *review(_AnyAttr()),
        *metrics(_AnyAttr()),
    ]
    assert {s.group_id: (s.on_critical_path, s.background) for s in specs} == {
        "intake.status-view": (False, False),
        "dispatch.router": (True, False),
        "dispatch.models.any": (False, True),  # each replica's model announcements
        "department.cases": (True, False),
        "review.callbacks": (False, True),
        "metrics.projections": (False, True),
    }


class _AnyAttr:
    """Stands in for a handler object: every attribute is one too, and callable."""

    def __getattr__(self, name: str) -> Any:
        return _AnyAttr()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return "any"
