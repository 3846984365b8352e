"""``python -m jiesu_department serve|worker|migrate``."""

from __future__ import annotations

import sys

from jiesu_common.service_cli import run_service_cli
from jiesu_department.main import MIGRATIONS, create_app, create_context
from jiesu_department.settings import DepartmentSettings

if __name__ == "__main__":
    sys.exit(
        run_service_cli(
            name="department",
            settings_factory=DepartmentSettings,
            create_app=create_app,
            create_context=create_context,
            migrations_dir=MIGRATIONS,
        )
    )
