"""dashboard projections: where and what a complaint is about, who called, ladder times

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FACT_COLUMNS = (
    ('category_code', sa.Text()),
    ('grid_code', sa.Text()),
    ('community_code', sa.Text()),
    ('street_code', sa.Text()),
    ('district_code', sa.Text()),
    ('caller_ref', sa.Text()),
    ('address', sa.Text()),
    ('lat', sa.Float()),
    ('lon', sa.Float()),
    ('master_id', sa.UUID()),
)


def upgrade() -> None:
    for name, type_ in _FACT_COLUMNS:
        op.add_column('complaint_facts', sa.Column(name, type_, nullable=True))
    op.add_column('clocks', sa.Column('level_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_complaint_facts_received_at', 'complaint_facts', ['received_at'])
    op.create_index('ix_rounds_assigned_at', 'rounds', ['assigned_at'])
    op.create_index(
        'ix_complaint_facts_closed_at', 'complaint_facts', ['closed_at'],
        postgresql_where=sa.text('closed_at IS NOT NULL'),
    )
    op.create_index(
        'ix_complaint_facts_master_id', 'complaint_facts', ['master_id'],
        postgresql_where=sa.text('master_id IS NOT NULL'),
    )
    op.create_index(
        'ix_clocks_breached_at', 'clocks', ['breached_at'],
        postgresql_where=sa.text('breached_at IS NOT NULL'),
    )
    op.create_index(
        'ix_clocks_level_at', 'clocks', ['level_at'],
        postgresql_where=sa.text('level_at IS NOT NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_clocks_level_at', table_name='clocks')
    op.drop_index('ix_clocks_breached_at', table_name='clocks')
    op.drop_index('ix_complaint_facts_master_id', table_name='complaint_facts')
    op.drop_index('ix_complaint_facts_closed_at', table_name='complaint_facts')
    op.drop_index('ix_rounds_assigned_at', table_name='rounds')
    op.drop_index('ix_complaint_facts_received_at', table_name='complaint_facts')
    op.drop_column('clocks', 'level_at')
    for name, _ in reversed(_FACT_COLUMNS):
        op.drop_column('complaint_facts', name)
