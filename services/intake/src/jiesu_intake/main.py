"""Intake's factory: the app and the process context, built at start-up."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi import APIRouter, FastAPI

from jiesu_common.contracts import TOPICS
from jiesu_common.http import create_service_app
from jiesu_common.notify import notifier_from
from jiesu_common.runtime import PeriodicTask, ServiceContext
from jiesu_common.settings import ServiceSettings
from jiesu_intake.api import authenticate_app, router
from jiesu_intake.catalog import CachedCatalog, CatalogFetch, DispatchCatalog
from jiesu_intake.consumers import consumer_specs
from jiesu_intake.handlers import IntakeUnitOfWork
from jiesu_intake.internal_api import router as internal_router
from jiesu_intake.knowledge import search
from jiesu_intake.knowledge.api import router as knowledge_router
from jiesu_intake.merges import ResidentNotices
from jiesu_intake.open311.api import PREFIX as OPEN311_PREFIX
from jiesu_intake.open311.api import router as open311_router
from jiesu_intake.open311.render import errors_response
from jiesu_intake.pii import PiiVault
from jiesu_intake.settings import IntakeSettings
from jiesu_intake.state import IntakeState

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_context(settings: ServiceSettings) -> ServiceContext:
    """Engine, producer, relay, consumers and residents' messages of one intake process."""
    assert isinstance(settings, IntakeSettings)
    notices = ResidentNotices(settings.pii, notifier_from(settings.notify))
    return ServiceContext(
        settings=settings,
        migrations_dir=MIGRATIONS,
        produces=[TOPICS["intake"]],
        consumers=consumer_specs(),
        uow_class=IntakeUnitOfWork,
        periodic=[
            PeriodicTask(
                "resident-notices",
                settings.notify_interval_s,
                notices.deliver_due,
                after_catch_up=False,
            )
        ],
    )


def create_app(
    settings: ServiceSettings | None = None, *, catalog_fetch: CatalogFetch | None = None
) -> FastAPI:
    """The intake HTTP API (with consumers and relay running in its lifespan).

    ``catalog_fetch`` replaces the HTTP read of dispatch's catalog (tests pass one).
    """
    settings = settings if settings is not None else IntakeSettings()
    assert isinstance(settings, IntakeSettings)
    context = create_context(settings)
    routes = APIRouter()
    routes.include_router(router)
    routes.include_router(knowledge_router)
    routes.include_router(open311_router)
    app = create_service_app(
        title="Jiesu intake 诉求受理",
        description=(
            "Filing and receiving complaints (群众点单、平台接单), and an Open311 GeoReport v2 "
            "endpoint for third-party apps under /open311/v2."
        ),
        auth=settings.auth,
        readiness=context.readiness,
        lifespan=context.lifespan(),
        router=routes,
        problem_renderers={OPEN311_PREFIX + "/": errors_response},
    )
    catalog = CachedCatalog(
        catalog_fetch or DispatchCatalog(settings.catalog, settings.auth),
        ttl_s=settings.catalog.ttl_s,
        retry_s=settings.catalog.retry_s,
    )
    app.state.intake = IntakeState(
        settings=settings, context=context, vault=PiiVault(settings.pii), catalog=catalog
    )
    app.include_router(internal_router)
    app.state.app_authenticator = authenticate_app
    # jieba's dictionary loads in the background, ahead of the first suggestion.
    threading.Thread(target=search.warm_up, name="jieba-warm-up", daemon=True).start()
    return app
