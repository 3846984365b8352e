"""metrics settings (env prefix ``JIESU_METRICS_``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import SettingsConfigDict

from jiesu_common.notify import NotifySettings
from jiesu_common.settings import ServiceSettings


class CompositeWeights(BaseModel):
    """Weights of the composite score (DESIGN §6: 10 % response, 45 % resolution, 45 % satisfaction)."""

    model_config = ConfigDict(extra="forbid")

    response: float = Field(default=0.10, ge=0)
    resolution: float = Field(default=0.45, ge=0)
    satisfaction: float = Field(default=0.45, ge=0)

    @model_validator(mode="after")
    def _sum_to_one(self) -> CompositeWeights:
        if abs(self.response + self.resolution + self.satisfaction - 1.0) > 1e-6:
            raise ValueError("composite weights must sum to 1")
        return self


class EscalationNoticeSettings(BaseModel):
    """Who is told at each rung of the ladder, and how delivery is retried."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # Level → the roles among a unit's contacts in dispatch's directory.
    recipients: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "reminder": ["duty"],
            "supervision": ["head", "district_supervisor"],
            "notice": ["district_supervisor"],
        }
    )
    interval_s: float = Field(default=1.0, gt=0)
    batch: int = Field(default=50, ge=1)
    # A claimed message not recorded within this long (the process died) is tried again.
    lease_s: float = Field(default=60.0, gt=0)
    # Failed sends are retried after 30 s, doubling to 2 h; after 16 tries (about a day) dead.
    retry_first_s: float = Field(default=30.0, gt=0)
    retry_cap_s: float = Field(default=7200.0, gt=0)
    max_attempts: int = Field(default=16, ge=1)
    # Units' contacts from dispatch are kept this long per process.
    contacts_cache_s: float = Field(default=300.0, ge=0)


class MetricsSettings(ServiceSettings):
    """Settings of the metrics service."""

    model_config = SettingsConfigDict(
        env_prefix="JIESU_METRICS_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "metrics"
    port: int = 8005
    timezone: str = "Asia/Shanghai"
    warning_fraction: float = Field(default=0.8, gt=0, lt=1)
    # Escalation ladder after a breach: supervision and public notice, in working days.
    supervision_after_working_days: int = Field(default=1, ge=0)
    notice_after_working_days: int = Field(default=5, ge=0)
    tick_interval_s: float = Field(default=1.0, gt=0)
    tick_batch: int = Field(default=500, ge=1)
    weights: CompositeWeights = Field(default_factory=CompositeWeights)
    # The escalation ladder's messages: the adapter, and units' contacts from dispatch.
    notify: NotifySettings = Field(default_factory=NotifySettings)
    escalation_notices: EscalationNoticeSettings = Field(default_factory=EscalationNoticeSettings)
    dispatch_url: str = "http://127.0.0.1:8002"
    dispatch_timeout_s: float = 5.0
