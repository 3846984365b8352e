"""Alembic environment of the metrics database."""

from jiesu_common.db.migrations import run_env
from jiesu_metrics.orm import metadata

run_env(metadata)
