"""``python -m jiesu_metrics serve|worker|migrate``."""

from __future__ import annotations

import sys

from jiesu_common.service_cli import run_service_cli
from jiesu_metrics.main import MIGRATIONS, create_app, create_context
from jiesu_metrics.settings import MetricsSettings

if __name__ == "__main__":
    sys.exit(
        run_service_cli(
            name="metrics",
            settings_factory=MetricsSettings,
            create_app=create_app,
            create_context=create_context,
            migrations_dir=MIGRATIONS,
        )
    )
