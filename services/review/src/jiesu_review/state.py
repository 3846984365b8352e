"""The callback-review process state."""

from __future__ import annotations

from dataclasses import dataclass, field

from jiesu_common.notify import Notifier
from jiesu_common.runtime import ServiceContext
from jiesu_review.handlers import ReviewUnitOfWork
from jiesu_review.links import RateLimit
from jiesu_review.settings import ReviewSettings


@dataclass
class ReviewState:
    """Built once at start-up by ``main.create_app``."""

    settings: ReviewSettings
    context: ServiceContext
    notifier: Notifier
    # Residents' page: requests per link token and per client address.
    per_link: RateLimit = field(default_factory=lambda: RateLimit(10, 600.0))
    per_address: RateLimit = field(default_factory=lambda: RateLimit(30, 600.0))

    def uow(self) -> ReviewUnitOfWork:
        """A unit of work with the review repository."""
        uow = self.context.uow()
        assert isinstance(uow, ReviewUnitOfWork)
        return uow
