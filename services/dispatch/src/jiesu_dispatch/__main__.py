"""``python -m jiesu_dispatch serve|worker|migrate``."""

from __future__ import annotations

import sys

from jiesu_common.service_cli import run_service_cli
from jiesu_dispatch.main import MIGRATIONS, create_app, create_context, seed
from jiesu_dispatch.settings import DispatchSettings

if __name__ == "__main__":
    sys.exit(
        run_service_cli(
            name="dispatch",
            settings_factory=DispatchSettings,
            create_app=create_app,
            create_context=create_context,
            migrations_dir=MIGRATIONS,
            after_migrate=seed,
        )
    )
