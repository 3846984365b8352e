"""The dispatch process state."""

from __future__ import annotations

from dataclasses import dataclass

from jiesu_common.runtime import ServiceContext
from jiesu_dispatch.handlers import Dispatcher
from jiesu_dispatch.settings import DispatchSettings


@dataclass
class DispatchState:
    """Built once at start-up by ``main.create_app``."""

    settings: DispatchSettings
    context: ServiceContext
    dispatcher: Dispatcher
