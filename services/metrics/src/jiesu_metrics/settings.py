"""metrics settings (env prefix ``JIESU_METRICS_``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import SettingsConfigDict

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
