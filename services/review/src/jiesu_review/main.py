"""callback-review's factory: the app and the process context."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from jiesu_common.contracts import TOPICS
from jiesu_common.http import create_service_app
from jiesu_common.notify import notifier_from
from jiesu_common.runtime import PeriodicTask, ServiceContext
from jiesu_common.settings import ServiceSettings
from jiesu_review.api import router
from jiesu_review.consumers import consumer_specs
from jiesu_review.handlers import Reviews, ReviewUnitOfWork
from jiesu_review.links import RateLimit
from jiesu_review.resident import router as resident_router
from jiesu_review.self_review import issue_due_links
from jiesu_review.settings import ReviewSettings
from jiesu_review.state import ReviewState

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_context(settings: ServiceSettings) -> ServiceContext:
    """Engine, producer, relay and consumers of one callback-review process (and, when
    configured, the task that issues residents' links as reviews fall due)."""
    assert isinstance(settings, ReviewSettings)
    periodic = []
    if settings.self_review.auto_issue:
        notifier = notifier_from(settings.notify)

        async def issue(context: ServiceContext) -> int:
            return await issue_due_links(context, settings=settings, notifier=notifier)

        periodic.append(
            PeriodicTask("self-review-links", settings.self_review.auto_issue_interval_s, issue)
        )
    return ServiceContext(
        settings=settings,
        migrations_dir=MIGRATIONS,
        produces=[TOPICS["review"]],
        consumers=consumer_specs(Reviews(settings)),
        uow_class=ReviewUnitOfWork,
        periodic=periodic,
    )


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The callback-review HTTP API (with consumers and relay in its lifespan)."""
    settings = settings if settings is not None else ReviewSettings()
    assert isinstance(settings, ReviewSettings)
    context = create_context(settings)
    app = create_service_app(
        title="Jiesu callback-review 回访",
        description="Calling residents back: contacted, resolved, satisfied; close or reopen.",
        auth=settings.auth,
        readiness=context.readiness,
        lifespan=context.lifespan(),
        router=router,
    )
    app.include_router(resident_router)
    limits = settings.self_review
    app.state.review = ReviewState(
        settings=settings,
        context=context,
        notifier=notifier_from(settings.notify),
        per_link=RateLimit(limits.per_link, limits.window_s),
        per_address=RateLimit(limits.per_address, limits.window_s),
    )
    return app
