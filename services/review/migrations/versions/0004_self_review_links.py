"""self-review links, self-reported reviews, and the record of messages sent

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from jiesu_common.notify_store import create_notifications_table, drop_notifications_table

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        'reviews',
        sa.Column('self_reported', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    )
    op.create_table(
        'self_review_links',
        sa.Column('link_id', sa.UUID(), nullable=False),
        sa.Column('review_id', sa.UUID(), nullable=False),
        sa.Column('complaint_id', sa.UUID(), nullable=False),
        sa.Column('issued_by', sa.Text(), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('link_id', name=op.f('pk_self_review_links')),
    )
    op.create_index(
        op.f('ix_self_review_links_review_id'), 'self_review_links', ['review_id'], unique=False
    )
    op.create_index(
        'uq_self_review_links_platform',
        'self_review_links',
        ['review_id'],
        unique=True,
        postgresql_where=sa.text("issued_by = 'platform'"),
    )
    create_notifications_table(op)


def downgrade() -> None:
    drop_notifications_table(op)
    op.drop_index('uq_self_review_links_platform', table_name='self_review_links')
    op.drop_index(op.f('ix_self_review_links_review_id'), table_name='self_review_links')
    op.drop_table('self_review_links')
    op.drop_column('reviews', 'self_reported')
