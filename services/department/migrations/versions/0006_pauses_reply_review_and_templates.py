"""pauses (挂起), reply review (答复审核) and reply templates

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('cases', sa.Column('pause_id', sa.UUID(), nullable=True))
    op.add_column('cases', sa.Column('pause_status', sa.Text(), nullable=True))
    op.add_column('cases', sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        'cases',
        sa.Column('reply_review_required', sa.Boolean(), server_default='false', nullable=False),
    )
    op.add_column('cases', sa.Column('reply_review', sa.Text(), nullable=True))
    op.add_column('cases', sa.Column('reply_review_note', sa.Text(), nullable=True))
    op.add_column(
        'cases', sa.Column('reply_submitted_at', sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table('reply_templates',
    sa.Column('template_id', sa.UUID(), nullable=False),
    sa.Column('unit_id', sa.Text(), nullable=False),
    sa.Column('category_code', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('updated_by', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('template_id', name=op.f('pk_reply_templates'))
    )
    op.create_index('ix_reply_templates_unit_id_category_code', 'reply_templates', ['unit_id', 'category_code'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_reply_templates_unit_id_category_code', table_name='reply_templates')
    op.drop_table('reply_templates')
    for column in (
        'reply_submitted_at', 'reply_review_note', 'reply_review', 'reply_review_required',
        'paused_until', 'pause_status', 'pause_id',
    ):
        op.drop_column('cases', column)
