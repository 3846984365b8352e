"""How long a consumer asks the broker to hold its fetches: busy, relaxed, background, idle."""

from types import SimpleNamespace
from typing import Any

import pytest

from jiesu_common.messaging.consumer import ConsumerRunner
from jiesu_common.settings import KafkaSettings


def _runner(
    settings: KafkaSettings,
    *,
    on_critical_path: bool = True,
    background: bool = False,
    topics: tuple[str, ...] = ("t",),
    slow_topics: tuple[str, ...] = (),
) -> ConsumerRunner:
    return ConsumerRunner(
        settings=settings,
        group_id="g",
        topics=topics,
        handlers={},
        uow_factory=lambda: None,  # type: ignore[arg-type,return-value]
        producer=None,  # type: ignore[arg-type]
        client_id="c",
        on_critical_path=on_critical_path,
        background=background,
        slow_topics=slow_topics,
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
    # What a critical group reads without waking for: never what a resident waits on.
    slow = {s.group_id: set(s.slow_topics) for s in specs if s.slow_topics}
    assert slow == {
        "dispatch.router": {"jiesu.department.v1", "jiesu.review.v1"},
        "department.cases": {"jiesu.intake.v1"},
    }


class _AnyAttr:
    """Stands in for a handler object: every attribute is one too, and callable."""

    def __getattr__(self, name: str) -> Any:
        return _AnyAttr()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return "any"


class _FakeConsumer:
    """The consumer calls ``_pace_slow_topics`` makes: assignment, pause, resume, poll times."""

    def __init__(self, tps: list[Any]) -> None:
        self.tps = set(tps)
        self.paused_tps: set[Any] = set()
        self.answered: dict[Any, int | None] = dict.fromkeys(tps)

    def assignment(self) -> set[Any]:
        return set(self.tps)

    def pause(self, *tps: Any) -> None:
        self.paused_tps |= set(tps)

    def resume(self, *tps: Any) -> None:
        self.paused_tps -= set(tps)

    def last_poll_timestamp(self, tp: Any) -> int | None:
        return self.answered[tp]


def _slow_runner() -> ConsumerRunner:
    settings = KafkaSettings(slow_topics_window_ms=500, fetch_idle_after_s=5.0)
    return _runner(settings, topics=("fast", "slow"), slow_topics=("slow",))


def test_slow_partitions_close_once_every_one_answered_and_open_again_after_the_window() -> None:
    from aiokafka import TopicPartition

    fast, s0, s1 = TopicPartition("fast", 0), TopicPartition("slow", 0), TopicPartition("slow", 1)
    consumer = _FakeConsumer([fast, s0, s1])
    runner = _slow_runner()
    opened = 1_000_000
    runner._slow_opened_ms = opened  # as the assignment does

    def pace(now: float, batches: dict[Any, list[Any]] | None = None, idle: float = 0.0) -> None:
        runner._pace_slow_topics(consumer, batches or {}, now, idle=idle)  # type: ignore[arg-type]

    consumer.answered[s0] = opened + 5  # one slow partition answered since the window opened
    pace(10.0)
    assert consumer.paused_tps == set()  # the other has not: the window stays open
    consumer.answered[s1] = opened + 7
    pace(10.05, {s0: ["record"]})
    assert consumer.paused_tps == set()  # records came from it: there may be more
    pace(10.1)
    assert consumer.paused_tps == {s0, s1}  # the fast partition is never paused
    pace(10.5)
    assert consumer.paused_tps == {s0, s1}  # 400 ms: the window is not due yet
    pace(10.65)
    assert consumer.paused_tps == set()  # 550 ms: open again
    assert runner._slow_opened_ms is not None and runner._slow_opened_ms > opened + 7
    pace(10.7)
    assert consumer.paused_tps == set()  # earlier answers do not count for the new window


def test_slow_partitions_stay_open_once_the_group_is_quiet() -> None:
    from aiokafka import TopicPartition

    s0 = TopicPartition("slow", 0)
    consumer = _FakeConsumer([TopicPartition("fast", 0), s0])
    runner = _slow_runner()
    runner._slow_opened_ms, runner._slow_closed_at = None, 10.0
    consumer.pause(s0)
    runner._pace_slow_topics(consumer, {}, 10.1, idle=6.0)  # type: ignore[arg-type]
    assert consumer.paused_tps == set()  # quiet: opened before the window is due
    consumer.answered[s0] = 2**62
    runner._pace_slow_topics(consumer, {}, 10.2, idle=6.5)  # type: ignore[arg-type]
    assert consumer.paused_tps == set()  # and kept open, every fetch a long one


def test_slow_topics_must_be_among_the_groups_topics() -> None:
    with pytest.raises(ValueError, match="slow topics"):
        _runner(KafkaSettings(), topics=("fast",), slow_topics=("elsewhere",))
