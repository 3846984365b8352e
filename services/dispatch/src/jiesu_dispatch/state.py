"""The dispatch process state."""

from __future__ import annotations

from dataclasses import dataclass

from jiesu_common.runtime import ServiceContext
from jiesu_dispatch.case_requests import CaseRequests
from jiesu_dispatch.consultations import Consultations
from jiesu_dispatch.handlers import Dispatcher, DispatchUnitOfWork
from jiesu_dispatch.loopback import LoopBack
from jiesu_dispatch.settings import DispatchSettings


@dataclass
class DispatchState:
    """Built once at start-up by ``main.create_app``."""

    settings: DispatchSettings
    context: ServiceContext
    dispatcher: Dispatcher

    @property
    def loopback(self) -> LoopBack:
        """Returns, extensions and reopens, on this process's dispatcher."""
        return LoopBack(self.dispatcher)

    @property
    def case_requests(self) -> CaseRequests:
        """Pauses and replies to review."""
        return CaseRequests()

    @property
    def consultations(self) -> Consultations:
        """Consultations and whistles, on this process's dispatcher."""
        return Consultations(self.dispatcher)

    def uow(self) -> DispatchUnitOfWork:
        """A unit of work with dispatch's repositories."""
        uow = self.context.uow()
        assert isinstance(uow, DispatchUnitOfWork)
        return uow
