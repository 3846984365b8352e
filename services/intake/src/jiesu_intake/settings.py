"""Intake settings (env prefix ``JIESU_INTAKE_``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from jiesu_common.notify import NotifySettings
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


class CatalogSettings(BaseModel):
    """Dispatch's category catalog (Open311's services) and unit names, read over HTTP."""

    dispatch_url: str = "http://127.0.0.1:8002"
    # A bearer token for dispatch; empty: intake signs a short-lived one with the platform key.
    token: SecretStr = SecretStr("")
    ttl_s: float = 300.0
    timeout_s: float = 3.0
    # After a failed fetch with nothing cached, answer 503 at once for this long.
    retry_s: float = 5.0


class ApiKeySettings(BaseModel):
    """Third-party apps' keys: the rate limit of a key created without its own."""

    default_rate_per_minute: int = Field(default=60, ge=1)


class Open311Settings(BaseModel):
    """The Open311 GeoReport v2 endpoint under /open311/v2."""

    # None: one jurisdiction, any jurisdiction_id is accepted; set: others get 404.
    jurisdiction_id: str | None = None
    # The base URL clients see (behind a proxy); default: the request's own.
    public_url: str | None = None
    contact: str = "12345 市民服务热线 / the 12345 citizen hotline"
    key_service: str = (
        "请向热线平台管理员申请 API 密钥 / ask the platform's administrators for a key"
    )
    changeset: str = "2026-11-23T00:00:00+08:00"
    window_days: int = 90
    max_requests: int = 1000
    updates_window_hours: int = 24


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
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    api_keys: ApiKeySettings = Field(default_factory=ApiKeySettings)
    open311: Open311Settings = Field(default_factory=Open311Settings)
    # Residents' messages (a manual merge, the master's outcome); how often they are sent.
    notify: NotifySettings = Field(default_factory=NotifySettings)
    notify_interval_s: float = Field(default=2.0, gt=0)
