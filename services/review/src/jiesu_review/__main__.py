"""``python -m jiesu_review serve|worker|migrate``."""

from __future__ import annotations

import sys

from jiesu_common.service_cli import run_service_cli
from jiesu_review.main import MIGRATIONS, create_app, create_context
from jiesu_review.settings import ReviewSettings

if __name__ == "__main__":
    sys.exit(
        run_service_cli(
            name="review",
            settings_factory=ReviewSettings,
            create_app=create_app,
            create_context=create_context,
            migrations_dir=MIGRATIONS,
        )
    )
