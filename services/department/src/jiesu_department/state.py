"""The department-response process state."""

from __future__ import annotations

from dataclasses import dataclass

from jiesu_common.runtime import ServiceContext
from jiesu_department.feed import CaseFeed
from jiesu_department.handlers import DepartmentUnitOfWork
from jiesu_department.settings import DepartmentSettings
from jiesu_department.units import CachedUnits


@dataclass
class DepartmentState:
    """Built once at start-up by ``main.create_app``."""

    settings: DepartmentSettings
    context: ServiceContext
    feed: CaseFeed
    units: CachedUnits

    def uow(self) -> DepartmentUnitOfWork:
        """A unit of work with the case repository."""
        uow = self.context.uow()
        assert isinstance(uow, DepartmentUnitOfWork)
        return uow
