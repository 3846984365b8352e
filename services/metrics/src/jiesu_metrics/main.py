"""metrics' factory: the app, the process context and the clock ticker."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from jiesu_common.calendar import WorkingCalendar
from jiesu_common.contracts import TOPICS
from jiesu_common.http import create_service_app
from jiesu_common.runtime import PeriodicTask, ServiceContext
from jiesu_common.settings import ServiceSettings
from jiesu_metrics.api import router
from jiesu_metrics.consumers import consumer_specs
from jiesu_metrics.domain import Ladder
from jiesu_metrics.handlers import MetricsUnitOfWork, Projector
from jiesu_metrics.notices import EscalationNotices
from jiesu_metrics.settings import MetricsSettings
from jiesu_metrics.state import MetricsState

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def new_projector(settings: MetricsSettings) -> Projector:
    """The projector with this deployment's ladder and calendar."""
    return Projector(
        Ladder(
            calendar=WorkingCalendar(settings.timezone),
            warning_fraction=settings.warning_fraction,
            supervision_after=settings.supervision_after_working_days,
            notice_after=settings.notice_after_working_days,
        ),
        notice_recipients=(
            settings.escalation_notices.recipients if settings.escalation_notices.enabled else {}
        ),
    )


def create_context(settings: ServiceSettings, projector: Projector | None = None) -> ServiceContext:
    """Engine, producer, relay, consumers and the SLA ticker of one metrics process.

    The ticker waits until the consumers have read the backlog that was in the log at
    start: a clock whose unit acted in time, while metrics was down, must not breach.
    """
    assert isinstance(settings, MetricsSettings)
    projector = projector or new_projector(settings)

    async def tick(context: ServiceContext) -> int:
        async with context.uow() as uow:
            assert isinstance(uow, MetricsUnitOfWork)
            return await projector.tick(uow, limit=settings.tick_batch)

    periodic = [PeriodicTask("sla-ticker", settings.tick_interval_s, tick)]
    if settings.escalation_notices.enabled:
        notices = EscalationNotices(settings)
        periodic.append(
            PeriodicTask(
                "escalation-notices",
                settings.escalation_notices.interval_s,
                notices.deliver_due,
                after_catch_up=False,  # what is owed was decided already
            )
        )
    return ServiceContext(
        settings=settings,
        migrations_dir=MIGRATIONS,
        produces=[TOPICS["sla"]],
        consumers=consumer_specs(projector),
        uow_class=MetricsUnitOfWork,
        periodic=periodic,
    )


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The metrics HTTP API (with consumers, relay and ticker in its lifespan)."""
    settings = settings if settings is not None else MetricsSettings()
    assert isinstance(settings, MetricsSettings)
    projector = new_projector(settings)
    context = create_context(settings, projector)
    app = create_service_app(
        title="Jiesu metrics 考评",
        description="SLA clocks and escalations (催办 → 督办 → 通报), scorecards (三率).",
        auth=settings.auth,
        readiness=context.readiness,
        lifespan=context.lifespan(),
        router=router,
    )
    app.state.metrics = MetricsState(settings=settings, context=context, projector=projector)
    return app
