"""outbox keeps published rows; acknowledged offsets and broker cluster id

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 02:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

from jiesu_common.messaging.tables import downgrade_outbox_retention, upgrade_outbox_retention

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_outbox_retention(op)


def downgrade() -> None:
    downgrade_outbox_retention(op)
