"""callback-review settings (env prefix ``JIESU_REVIEW_``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from jiesu_common.notify import NotifySettings
from jiesu_common.settings import ServiceSettings


class SelfReviewSettings(BaseModel):
    """Residents' self-review links: signing key, public address, lifetime and rate limits."""

    model_config = ConfigDict(extra="forbid")

    # The links' signing key. Empty: in development one is derived from the JWT secret;
    # in production issuing links is refused until it is set.
    secret: SecretStr = SecretStr("")
    # Where residents reach callback-review's page (the public address of ``/r/…``).
    base_url: str = "http://127.0.0.1:8004"
    ttl_hours: float = Field(default=72.0, gt=0)
    # Requests per link token and per client address (in each replica) within a window.
    per_link: int = Field(default=10, ge=1)
    per_address: int = Field(default=30, ge=1)
    window_s: float = Field(default=600.0, gt=0)
    # The platform issues a link by itself for each review that falls due (off by default:
    # reviewers issue them), only between these hours of the hotline's day, in batches.
    auto_issue: bool = False
    send_from_hour: int = Field(default=9, ge=0, le=24)
    send_until_hour: int = Field(default=20, ge=0, le=24)
    auto_issue_interval_s: float = Field(default=60.0, gt=0)
    auto_issue_batch: int = Field(default=50, ge=1)


class ReviewSettings(ServiceSettings):
    """Settings of the callback-review service."""

    model_config = SettingsConfigDict(
        env_prefix="JIESU_REVIEW_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "review"
    port: int = 8004
    # A review falls due on the day after resolution, in the hotline's time zone.
    timezone: str = "Asia/Shanghai"
    due_after_days: int = 1
    # Where reviewers fetch the resident's phone number to call back (intake holds it).
    intake_url: str = "http://127.0.0.1:8001"
    intake_timeout_s: float = 5.0
    # Residents' self-review links, and the notifier that sends them (SMS in production).
    self_review: SelfReviewSettings = Field(default_factory=SelfReviewSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
