"""Dispatch settings (env prefix ``JIESU_DISPATCH_``)."""

from __future__ import annotations

import socket

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from jiesu_common.settings import ServiceSettings


class ClockOverride(BaseModel):
    """Changes to the DESIGN §6 clocks for one SLA class or one category (unset = keep)."""

    model_config = ConfigDict(extra="forbid")

    accept_minutes: int | None = Field(default=None, gt=0)
    contact_minutes: int | None = Field(default=None, gt=0)
    resolve_hours: int | None = Field(default=None, gt=0)
    resolve_working_days: int | None = Field(default=None, gt=0)


class DispatchSettings(ServiceSettings):
    """Settings of the dispatch service."""

    model_config = SettingsConfigDict(
        env_prefix="JIESU_DISPATCH_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "dispatch"
    port: int = 8002
    # Names this replica's own consumer group for model announcements (each replica must
    # hear every model.promoted); unset: host name and port.
    replica_id: str | None = None
    classifier_min_confidence: float = 0.5
    # Parsed routing rules are kept this long; a version stored by this process is used at
    # once, one stored by another replica within this many seconds.
    rules_ttl_s: float = Field(default=1.0, ge=0)
    working_days: bool = True
    # Keyed by SLA class ("complex") or category code ("CITY-ILLEGAL-BUILD"); a category's
    # override applies on top of its class's, e.g.
    # JIESU_DISPATCH_CLOCKS='{"complex": {"resolve_working_days": 20}}'
    clocks: dict[str, ClockOverride] = Field(default_factory=dict)
    timezone: str = "Asia/Shanghai"
    # A consultation (会商) must be decided within this many working hours (office hours
    # of working days); after that the district government takes the complaint (兜底).
    consultation_working_hours: float = Field(default=4.0, gt=0)
    # When set, consultations are due this many seconds after opening instead (demos, tests).
    consultation_deadline_s: float | None = Field(default=None, gt=0)
    # How often a worker looks for consultations past their deadline.
    consultation_fallback_interval_s: float = Field(default=5.0, gt=0)

    # --- the learning loop ---------------------------------------------------------------
    # A learned champion's guess below this probability sends the complaint to a human
    # dispatcher with the top three (the city's own threshold; see the calibration table
    # of the version's evaluation report).
    learning_min_confidence: float = Field(default=0.6, ge=0, le=1)
    # Closed complaints are kept as training history this long (no caller data is kept).
    learning_retention_days: int = Field(default=730, gt=0)
    # When set, a worker retrains every this many seconds; the result is a challenger, and
    # nothing is trained when the history has not changed.
    learning_retrain_interval_s: float | None = Field(default=None, gt=0)
    # A rule is flagged when at least this many of its assignments closed and this share of
    # them ended with another unit.
    learning_overturn_min_cases: int = Field(default=5, gt=0)
    learning_overturn_min_rate: float = Field(default=0.5, gt=0, le=1)

    def replica(self) -> str:
        """This replica's name (``replica_id``, else host name and port)."""
        return self.replica_id or f"{socket.gethostname()}-{self.port}"
