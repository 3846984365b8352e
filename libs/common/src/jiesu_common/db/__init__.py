"""Database mechanics: naming convention, engine, unit of work, migrations."""

from jiesu_common.db.base import NAMING_CONVENTION, new_metadata
from jiesu_common.db.engine import create_engine, ensure_database, session_factory
from jiesu_common.db.uow import UnitOfWork

__all__ = [
    "NAMING_CONVENTION",
    "UnitOfWork",
    "create_engine",
    "ensure_database",
    "new_metadata",
    "session_factory",
]
