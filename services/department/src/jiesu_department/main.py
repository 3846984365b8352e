"""department-response's factory: the app and the process context."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from jiesu_common.contracts import TOPICS
from jiesu_common.http import create_service_app
from jiesu_common.runtime import ServiceContext
from jiesu_common.settings import ServiceSettings
from jiesu_department import reply_api
from jiesu_department.api import STREAM_BATCH, router
from jiesu_department.consumers import consumer_specs
from jiesu_department.feed import CaseFeed, database_reads
from jiesu_department.handlers import DepartmentUnitOfWork
from jiesu_department.settings import DepartmentSettings
from jiesu_department.state import DepartmentState
from jiesu_department.units import CachedUnits, dispatch_units
from jiesu_department.webhooks import api as webhooks_api
from jiesu_department.webhooks.worker import DeliveryWorker

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_context(settings: ServiceSettings) -> ServiceContext:
    """Engine, producer, relay, consumers and webhook delivery of one department process."""
    context = ServiceContext(
        settings=settings,
        migrations_dir=MIGRATIONS,
        produces=[TOPICS["department"]],
        consumers=consumer_specs(),
        uow_class=DepartmentUnitOfWork,
    )
    assert isinstance(settings, DepartmentSettings)
    if settings.webhooks.enabled:
        context.daemons.append(
            DeliveryWorker(
                engine=context.engine,
                settings=settings.webhooks,
                development=settings.auth.development,
            )
        )
    return context


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The department-response HTTP API (with consumers and relay in its lifespan)."""
    settings = settings if settings is not None else DepartmentSettings()
    assert isinstance(settings, DepartmentSettings)
    context = create_context(settings)
    read_feed, read_changes, bounds = database_reads(context.engine, STREAM_BATCH)
    feed = CaseFeed(
        settings.database.url,
        settings.stream_poll_s,
        read_feed=read_feed,
        read_changes=read_changes,
        bounds=bounds,
    )
    lifespan = context.lifespan(on_stop=feed.close)
    app = create_service_app(
        title="Jiesu department-response 承办",
        description="Units' work queues: sign for, contact, handle, reply to or return cases.",
        auth=settings.auth,
        readiness=context.readiness,
        lifespan=lifespan,
        router=router,
    )
    app.include_router(webhooks_api.router)
    app.include_router(reply_api.router)
    units = CachedUnits(
        dispatch_units(settings.dispatch_url, settings.auth, settings.dispatch_timeout_s),
        ttl_s=settings.units_ttl_s,
    )
    app.state.department = DepartmentState(
        settings=settings, context=context, feed=feed, units=units
    )
    return app
