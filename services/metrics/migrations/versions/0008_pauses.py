"""pauses (挂起): the clocks' running pause and paused seconds, and the pause facts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('clocks', sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('clocks', sa.Column('pause_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        'clocks', sa.Column('paused_s', sa.Float(), server_default='0', nullable=False)
    )
    op.create_table(
        'pause_facts',
        sa.Column('pause_id', sa.UUID(), nullable=False),
        sa.Column('complaint_id', sa.UUID(), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Text(), nullable=False),
        sa.Column('paused_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('pause_id', name=op.f('pk_pause_facts')),
    )
    op.create_index('ix_pause_facts_paused_at', 'pause_facts', ['paused_at'])


def downgrade() -> None:
    op.drop_index('ix_pause_facts_paused_at', table_name='pause_facts')
    op.drop_table('pause_facts')
    op.drop_column('clocks', 'paused_s')
    op.drop_column('clocks', 'pause_until')
    op.drop_column('clocks', 'paused_at')
