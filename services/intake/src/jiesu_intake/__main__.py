"""``python -m jiesu_intake serve|worker|migrate``."""

from __future__ import annotations

import sys

from jiesu_common.service_cli import run_service_cli
from jiesu_intake.main import MIGRATIONS, create_app, create_context
from jiesu_intake.settings import IntakeSettings

if __name__ == "__main__":
    sys.exit(
        run_service_cli(
            name="intake",
            settings_factory=IntakeSettings,
            create_app=create_app,
            create_context=create_context,
            migrations_dir=MIGRATIONS,
        )
    )
