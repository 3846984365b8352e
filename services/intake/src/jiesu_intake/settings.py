"""Intake settings (env prefix ``JIESU_INTAKE_``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from jiesu_common.settings import ServiceSettings


class PiiSettings(BaseModel):
    """Keys protecting callers' personal data (base64 of 32 random bytes each)."""

    encryption_key: SecretStr = SecretStr("")
    hash_key: SecretStr = SecretStr("")


class DuplicateSettings(BaseModel):
    """Duplicate detection (重复件): who, where, how alike, how recent."""

    window_hours: int = 72
    radius_m: float = 200.0
    min_similarity: float = 0.55


class IntakeSettings(ServiceSettings):
    """Settings of the intake service."""

    model_config = SettingsConfigDict(
        env_prefix="JIESU_INTAKE_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "intake"
    port: int = 8001
    timezone: str = "Asia/Shanghai"
    pii: PiiSettings = Field(default_factory=PiiSettings)
    duplicates: DuplicateSettings = Field(default_factory=DuplicateSettings)
