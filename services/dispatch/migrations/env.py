"""Alembic environment of the dispatch database."""

from jiesu_common.db.migrations import run_env
from jiesu_dispatch.orm import metadata

run_env(metadata)
