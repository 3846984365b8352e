"""Dispatch's factory: seeding, the app and the process context."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from jiesu_common.calendar import WorkingCalendar
from jiesu_common.contracts import TOPICS
from jiesu_common.db.engine import create_engine, session_factory
from jiesu_common.http import create_service_app
from jiesu_common.runtime import PeriodicTask, ServiceContext
from jiesu_common.settings import ServiceSettings
from jiesu_dispatch import case_requests_api
from jiesu_dispatch.api import router
from jiesu_dispatch.consultations import Consultations
from jiesu_dispatch.consumers import consumer_specs
from jiesu_dispatch.directory import Directory
from jiesu_dispatch.handlers import Dispatcher, DispatchUnitOfWork
from jiesu_dispatch.learning import service as learning
from jiesu_dispatch.learning.api import router as learning_router
from jiesu_dispatch.learning.schedule import forget_old_history, retrain
from jiesu_dispatch.routing import rules_from_seed
from jiesu_dispatch.seed import load_seed, load_unit_contacts
from jiesu_dispatch.settings import DispatchSettings
from jiesu_dispatch.state import DispatchState

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def seed(settings: ServiceSettings) -> None:
    """Load the packaged directory (once per version), the first rules version and the
    demo units' contacts (those not there yet)."""
    engine = create_engine(settings.database)
    try:
        async with DispatchUnitOfWork(session_factory(engine)) as uow:
            data = load_seed()
            await uow.dispatch.add_directory(str(data["version"]), data)
            if await uow.dispatch.current_rules() is None:
                rules = [
                    {
                        "category": r.category,
                        "scope": r.scope,
                        "lead": r.lead,
                        "co_units": list(r.co_units),
                    }
                    for r in rules_from_seed(data)
                ]
                await uow.dispatch.add_rules_version(
                    version=1,
                    rules=rules,
                    note="seed " + str(data["version"]),
                    created_by="seed",
                )
            await uow.dispatch.seed_unit_contacts(
                [{**c, "updated_by": "seed"} for c in load_unit_contacts()]
            )
            await uow.commit()
    finally:
        await engine.dispose()


def create_context(
    settings: ServiceSettings, dispatcher: Dispatcher | None = None
) -> ServiceContext:
    """Engine, producer, relay and consumers of one dispatch process.

    The directory is read from the database when the context starts, before any consumer.
    The consultation fallback waits until the consumers have caught up, so a decision
    still in the log when dispatch restarts is never overtaken by the fallback.
    """
    assert isinstance(settings, DispatchSettings)
    dispatcher = dispatcher or new_dispatcher(settings)

    async def load_directory(context: ServiceContext) -> None:
        async with context.uow() as uow:
            assert isinstance(uow, DispatchUnitOfWork)
            data = await uow.dispatch.latest_directory()
            # The learned models are read once here, then held in memory.
            await learning.refresh_served(dispatcher.models, uow)
        dispatcher.directory = Directory.from_seed(data if data is not None else load_seed())

    consultations = Consultations(dispatcher)

    async def fall_back(context: ServiceContext) -> int:
        async with context.uow() as uow:
            assert isinstance(uow, DispatchUnitOfWork)
            return await consultations.fall_back_due(uow)

    return ServiceContext(
        settings=settings,
        migrations_dir=MIGRATIONS,
        produces=[TOPICS["dispatch"]],
        consumers=consumer_specs(dispatcher),
        uow_class=DispatchUnitOfWork,
        on_start=load_directory,
        periodic=[
            PeriodicTask(
                "consultation-fallback", settings.consultation_fallback_interval_s, fall_back
            ),
            PeriodicTask("learning-retention", 3600.0, forget_old_history),
            *(
                [PeriodicTask("learning-retrain", settings.learning_retrain_interval_s, retrain)]
                if settings.learning_retrain_interval_s
                else []
            ),
        ],
    )


def new_dispatcher(settings: DispatchSettings) -> Dispatcher:
    """A dispatcher holding the packaged seed until the stored directory is loaded."""
    return Dispatcher(
        directory=Directory.from_seed(load_seed()),
        settings=settings,
        calendar=WorkingCalendar(settings.timezone),
    )


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The dispatch HTTP API (with consumers and relay running in its lifespan)."""
    settings = settings if settings is not None else DispatchSettings()
    assert isinstance(settings, DispatchSettings)
    dispatcher = new_dispatcher(settings)
    context = create_context(settings, dispatcher)
    app = create_service_app(
        title="Jiesu dispatch 派单",
        description="Routing complaints to units (派单), the dispatch queue, routing rules.",
        auth=settings.auth,
        readiness=context.readiness,
        lifespan=context.lifespan(),
        router=router,
    )
    app.include_router(case_requests_api.router)
    app.include_router(learning_router)
    app.state.dispatch = DispatchState(settings=settings, context=context, dispatcher=dispatcher)
    return app
