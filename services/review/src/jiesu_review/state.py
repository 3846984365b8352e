"""The callback-review process state."""

from __future__ import annotations

from dataclasses import dataclass

from jiesu_common.runtime import ServiceContext
from jiesu_review.handlers import ReviewUnitOfWork
from jiesu_review.settings import ReviewSettings


@dataclass
class ReviewState:
    """Built once at start-up by ``main.create_app``."""

    settings: ReviewSettings
    context: ServiceContext

    def uow(self) -> ReviewUnitOfWork:
        """A unit of work with the review repository."""
        uow = self.context.uow()
        assert isinstance(uow, ReviewUnitOfWork)
        return uow
