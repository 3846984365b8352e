"""indexes for the process's change reader (every unit's changes by transaction id)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 04:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_cases_xid', 'cases', ['xid'], unique=False)
    op.create_index('ix_consultations_xid', 'consultations', ['xid'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_consultations_xid', table_name='consultations')
    op.drop_index('ix_cases_xid', table_name='cases')
