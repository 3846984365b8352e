"""Project a past into a running stack's metrics database (see tests/metrics/history.py)."""

from __future__ import annotations

from datetime import datetime

from jiesu_metrics.main import create_app
from jiesu_metrics.settings import MetricsSettings
from tests.metrics.history import history, project


async def seed_history(database_url: str, jwt_secret: str, *, now: datetime, days: int = 56) -> int:
    """Weeks of closed complaints, projected by metrics' own handlers; returns the events."""
    settings = MetricsSettings(
        database={"url": database_url}, auth={"jwt_secret": jwt_secret}, run_consumers=False
    )
    app = create_app(settings)
    state = app.state.metrics
    await state.context.start(background=False)
    try:
        return await project(state, history(now=now, days=days, per_day=6))
    finally:
        await state.context.engine.dispose()
