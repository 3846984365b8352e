"""Alembic environment of the department-response database."""

from jiesu_common.db.migrations import run_env
from jiesu_department.orm import metadata

run_env(metadata)
