"""department-response settings (env prefix ``JIESU_DEPARTMENT_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from jiesu_common.settings import ServiceSettings


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
