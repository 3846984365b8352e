"""Alembic environment of the callback-review database."""

from jiesu_common.db.migrations import run_env
from jiesu_review.orm import metadata

run_env(metadata)
