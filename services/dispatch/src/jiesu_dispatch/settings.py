"""Dispatch settings (env prefix ``JIESU_DISPATCH_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from jiesu_common.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    """Settings of the dispatch service."""

    model_config = SettingsConfigDict(
        env_prefix="JIESU_DISPATCH_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "dispatch"
    port: int = 8002
    classifier_min_confidence: float = 0.5
    working_days: bool = True
    timezone: str = "Asia/Shanghai"
