"""The intake process state: settings, runtime context, PII vault."""

from __future__ import annotations

from dataclasses import dataclass

from jiesu_common.runtime import ServiceContext
from jiesu_intake.catalog import CachedCatalog
from jiesu_intake.handlers import IntakeUnitOfWork
from jiesu_intake.pii import PiiVault
from jiesu_intake.settings import IntakeSettings


@dataclass
class IntakeState:
    """Built once at start-up by ``main.create_app``."""

    settings: IntakeSettings
    context: ServiceContext
    vault: PiiVault
    catalog: CachedCatalog

    def uow(self) -> IntakeUnitOfWork:
        """A unit of work with intake's repositories."""
        uow = self.context.uow()
        assert isinstance(uow, IntakeUnitOfWork)
        return uow
