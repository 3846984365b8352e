"""the round a complaint was closed in: its closing lead unit, for the misroute figures

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('complaint_facts', sa.Column('closed_round', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('complaint_facts', 'closed_round')
