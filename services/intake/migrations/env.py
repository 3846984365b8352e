"""Alembic environment of the intake database."""

from jiesu_common.db.migrations import run_env
from jiesu_intake.orm import metadata

run_env(metadata)
