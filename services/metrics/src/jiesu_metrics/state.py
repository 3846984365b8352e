"""The metrics process state."""

from __future__ import annotations

from dataclasses import dataclass

from jiesu_common.runtime import ServiceContext
from jiesu_metrics.handlers import MetricsUnitOfWork, Projector
from jiesu_metrics.settings import MetricsSettings


@dataclass
class MetricsState:
    """Built once at start-up by ``main.create_app``."""

    settings: MetricsSettings
    context: ServiceContext
    projector: Projector

    def uow(self) -> MetricsUnitOfWork:
        """A unit of work with metrics' repository."""
        uow = self.context.uow()
        assert isinstance(uow, MetricsUnitOfWork)
        return uow
