"""department-response settings (env prefix ``JIESU_DEPARTMENT_``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import SettingsConfigDict

from jiesu_common.settings import ServiceSettings


class WebhookSettings(BaseModel):
    """Delivery of units' webhooks (see ``jiesu_department.webhooks``)."""

    # Whether this process runs a delivery worker (deliveries are queued either way).
    enabled: bool = True
    # One attempt's time limit (connect and answer), and how long a claimed delivery is
    # held for the process that claimed it: a process killed mid-send leaves it to be
    # claimed again after the lease. The lease must outlast an attempt.
    timeout_s: float = 10.0
    lease_s: float = 60.0
    # Retries: base · factor^(n-1) seconds after the n-th failure, capped; dead after
    # max_attempts. Defaults: 1 min, 3, 9, 27, 81 min, 4 h, 8 h, 8 h: about 22 hours.
    retry_base_s: float = 60.0
    retry_factor: float = 3.0
    retry_cap_s: float = 8 * 3600.0
    max_attempts: int = Field(default=9, ge=1)
    # A subscription is disabled after this many dead deliveries in a row.
    disable_after_dead: int = Field(default=5, ge=1)
    # Deliveries in flight at once per process.
    concurrency: int = Field(default=8, ge=1)
    # The worker sleeps until the next due retry or a local commit wakes it; at most this
    # long, for deliveries queued by another replica's process.
    idle_poll_s: float = 30.0
    # Deliveries kept in the log, per subscription, for this many days.
    retention_days: float = 30.0

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> WebhookSettings:
        if self.lease_s <= self.timeout_s:
            raise ValueError("webhooks.lease_s must exceed webhooks.timeout_s")
        return self


class DepartmentSettings(ServiceSettings):
    """Settings of the department-response service."""

    model_config = SettingsConfigDict(
        env_prefix="JIESU_DEPARTMENT_", env_nested_delimiter="__", extra="ignore"
    )

    service_name: str = "department"
    port: int = 8003
    # Where a unit's staff fetch a resident's phone number (intake owns caller data).
    intake_url: str = "http://127.0.0.1:8001"
    intake_timeout_s: float = 5.0
    # Where a whistle's units are checked (dispatch owns the directory), and for how long
    # the list of units is kept in the process.
    dispatch_url: str = "http://127.0.0.1:8002"
    dispatch_timeout_s: float = 5.0
    units_ttl_s: float = 300.0
    # How often an idle SSE stream looks for changes when no notification woke it.
    stream_poll_s: float = 2.0
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
