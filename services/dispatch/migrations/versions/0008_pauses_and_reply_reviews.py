"""pauses (挂起), reply reviews (答复审核) and the reply-review policy

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'pauses',
        sa.Column('pause_id', sa.UUID(), nullable=False),
        sa.Column('case_id', sa.UUID(), nullable=False),
        sa.Column('complaint_id', sa.UUID(), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('decided_by', sa.Text(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_by', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('pause_id', name=op.f('pk_pauses')),
    )
    op.create_index('ix_pauses_status_requested_at', 'pauses', ['status', 'requested_at'])
    op.create_table(
        'reply_reviews',
        sa.Column('reply_review_id', sa.UUID(), nullable=False),
        sa.Column('case_id', sa.UUID(), nullable=False),
        sa.Column('complaint_id', sa.UUID(), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Text(), nullable=False),
        sa.Column('reply', sa.Text(), nullable=False),
        sa.Column('result', sa.Text(), nullable=True),
        sa.Column('submitted_by', sa.Text(), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('decided_by', sa.Text(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('reply_review_id', name=op.f('pk_reply_reviews')),
    )
    op.create_index(
        'ix_reply_reviews_status_requested_at', 'reply_reviews', ['status', 'requested_at']
    )
    op.create_table(
        'reply_review_policy',
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('code', sa.Text(), nullable=False),
        sa.Column('updated_by', sa.Text(), nullable=False),
        sa.Column(
            'updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False
        ),
        sa.PrimaryKeyConstraint('scope', 'code', name=op.f('pk_reply_review_policy')),
    )


def downgrade() -> None:
    op.drop_table('reply_review_policy')
    op.drop_index('ix_reply_reviews_status_requested_at', table_name='reply_reviews')
    op.drop_table('reply_reviews')
    op.drop_index('ix_pauses_status_requested_at', table_name='pauses')
    op.drop_table('pauses')
