"""knowledge base for direct answers, and proactive cases

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'articles',
        sa.Column('article_id', sa.UUID(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('category_code', sa.Text(), nullable=True),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('valid_until', sa.Date(), nullable=True),
        sa.Column('owner_unit_id', sa.Text(), nullable=True),
        sa.Column('search', postgresql.TSVECTOR(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('article_id', name=op.f('pk_articles')),
    )
    op.create_index('ix_articles_search', 'articles', ['search'], unique=False, postgresql_using='gin')
    op.create_index('ix_articles_updated_at_article_id', 'articles', ['updated_at', 'article_id'], unique=False)
    op.create_table(
        'article_versions',
        sa.Column('article_id', sa.UUID(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('category_code', sa.Text(), nullable=True),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('valid_until', sa.Date(), nullable=True),
        sa.Column('owner_unit_id', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['article_id'], ['articles.article_id'], name=op.f('fk_article_versions_article_id_articles')),
        sa.PrimaryKeyConstraint('article_id', 'version', name=op.f('pk_article_versions')),
    )
    op.add_column('complaints', sa.Column('article_id', sa.UUID(), nullable=True))
    op.add_column('complaints', sa.Column('article_version', sa.Integer(), nullable=True))
    op.add_column('complaints', sa.Column('proactive', sa.Text(), nullable=True))
    op.add_column('complaints', sa.Column('hotspot_key', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('complaints', 'hotspot_key')
    op.drop_column('complaints', 'proactive')
    op.drop_column('complaints', 'article_version')
    op.drop_column('complaints', 'article_id')
    op.drop_table('article_versions')
    op.drop_index('ix_articles_updated_at_article_id', table_name='articles')
    op.drop_index('ix_articles_search', table_name='articles')
    op.drop_table('articles')
