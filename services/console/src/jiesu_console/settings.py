"""console settings (env prefix ``JIESU_CONSOLE_``)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from jiesu_common.settings import ServiceSettings


class UpstreamSettings(BaseModel):
    """Where the other services' public HTTP APIs are (the console calls nothing else)."""

    intake_url: str = "http://127.0.0.1:8001"
    dispatch_url: str = "http://127.0.0.1:8002"
    department_url: str = "http://127.0.0.1:8003"
    review_url: str = "http://127.0.0.1:8004"
    metrics_url: str = "http://127.0.0.1:8005"
    timeout_s: float = Field(default=15.0, gt=0)


class ConsoleSettings(ServiceSettings):
    """Settings of the console. It owns no database and consumes no topic: ``database`` and
    ``kafka`` (inherited) are unused."""

    model_config = SettingsConfigDict(
        env_prefix="JIESU_CONSOLE_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "console"
    port: int = 8006
    timezone: str = "Asia/Shanghai"
    upstream: UpstreamSettings = Field(default_factory=UpstreamSettings)
    # Development only: a sign-in page that mints a token for any role or unit (no
    # passwords). Off in production, where an OpenID Connect proxy in front of the console
    # passes the person's access token as ``Authorization: Bearer``.
    dev_login: bool = False
    cookie_secure: bool = True
    session_hours: float = Field(default=12.0, gt=0)
    # Below this many reviews (or rounds, or clocks) a unit is listed but not ranked.
    min_sample: int = Field(default=3, ge=1)
    # Rows an export may hold (a drill-down is paged through up to this).
    export_max_rows: int = Field(default=20_000, ge=100)
    directory_cache_s: float = Field(default=300.0, ge=0)
