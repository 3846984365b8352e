"""callback-review settings (env prefix ``JIESU_REVIEW_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from jiesu_common.settings import ServiceSettings


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
