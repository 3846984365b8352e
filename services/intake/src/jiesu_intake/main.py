"""Intake's factory: the app and the process context, built at start-up."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from jiesu_common.contracts import TOPICS
from jiesu_common.http import create_service_app
from jiesu_common.runtime import ServiceContext
from jiesu_common.settings import ServiceSettings
from jiesu_intake.api import router
from jiesu_intake.consumers import consumer_specs
from jiesu_intake.handlers import IntakeUnitOfWork
from jiesu_intake.internal_api import router as internal_router
from jiesu_intake.pii import PiiVault
from jiesu_intake.settings import IntakeSettings
from jiesu_intake.state import IntakeState

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_context(settings: ServiceSettings) -> ServiceContext:
    """Engine, producer, relay and consumers of one intake process."""
    return ServiceContext(
        settings=settings,
        migrations_dir=MIGRATIONS,
        produces=[TOPICS["intake"]],
        consumers=consumer_specs(),
        uow_class=IntakeUnitOfWork,
    )


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The intake HTTP API (with consumers and relay running in its lifespan)."""
    settings = settings if settings is not None else IntakeSettings()
    assert isinstance(settings, IntakeSettings)
    context = create_context(settings)
    app = create_service_app(
        title="Jiesu intake 诉求受理",
        description="Filing and receiving complaints (群众点单、平台接单).",
        auth=settings.auth,
        readiness=context.readiness,
        lifespan=context.lifespan(),
        router=router,
    )
    app.include_router(internal_router)
    app.state.intake = IntakeState(settings=settings, context=context, vault=PiiVault(settings.pii))
    return app
