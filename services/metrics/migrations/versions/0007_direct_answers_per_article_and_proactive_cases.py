"""direct answers per article, and proactive cases

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('complaint_facts', sa.Column('article_id', sa.UUID(), nullable=True))
    op.add_column('complaint_facts', sa.Column('article_version', sa.Integer(), nullable=True))
    op.add_column('complaint_facts', sa.Column('article_title', sa.Text(), nullable=True))
    op.add_column('complaint_facts', sa.Column('proactive', sa.Text(), nullable=True))
    op.add_column('complaint_facts', sa.Column('hotspot_key', sa.Text(), nullable=True))
    op.create_index(
        'ix_complaint_facts_article_id_answered_at',
        'complaint_facts',
        ['article_id', 'answered_at'],
        unique=False,
        postgresql_where=sa.text('article_id IS NOT NULL'),
    )
    op.add_column('rounds', sa.Column('proactive', sa.Text(), nullable=True))
    op.create_index('ix_review_facts_complaint_id', 'review_facts', ['complaint_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_review_facts_complaint_id', table_name='review_facts')
    op.drop_column('rounds', 'proactive')
    op.drop_index('ix_complaint_facts_article_id_answered_at', table_name='complaint_facts')
    op.drop_column('complaint_facts', 'hotspot_key')
    op.drop_column('complaint_facts', 'proactive')
    op.drop_column('complaint_facts', 'article_title')
    op.drop_column('complaint_facts', 'article_version')
    op.drop_column('complaint_facts', 'article_id')
