"""notifications owed to residents (manual merges, the master's outcome); duplicates index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 13:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from jiesu_common.notify_store import create_notifications_table, drop_notifications_table

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_notifications_table(op)
    op.create_index(
        'ix_complaints_duplicate_of',
        'complaints',
        ['duplicate_of'],
        postgresql_where=sa.text('duplicate_of IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_complaints_duplicate_of', table_name='complaints')
    drop_notifications_table(op)
