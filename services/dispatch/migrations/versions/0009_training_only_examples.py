"""training-only examples: lines that describe a category (its names in the city's
category scheme, a glossary entry) are trained on but never scored as history

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 08:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'learning_examples',
        sa.Column('train_only', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    )


def downgrade() -> None:
    op.drop_column('learning_examples', 'train_only')
