"""learning: training history, model registry (immutable versions, aliases), shadowing

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'learning_examples',
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('title', sa.Text(), server_default='', nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('channel', sa.Text(), nullable=True),
        sa.Column('grid_code', sa.Text(), nullable=True),
        sa.Column('community_code', sa.Text(), nullable=True),
        sa.Column('street_code', sa.Text(), nullable=True),
        sa.Column('district_code', sa.Text(), nullable=True),
        sa.Column('category', sa.Text(), nullable=False),
        sa.Column('first_lead_unit_id', sa.Text(), nullable=True),
        sa.Column('lead_unit_id', sa.Text(), nullable=True),
        sa.Column('first_rule', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('misrouted', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('closed_at', TS, nullable=True),
        sa.Column('created_at', TS, server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_learning_examples')),
    )
    op.create_index(
        'ix_learning_examples_closed_at', 'learning_examples', ['closed_at'], unique=False
    )
    op.create_table(
        'model_versions',
        sa.Column('version', sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('fingerprint', sa.Text(), nullable=False),
        sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('libraries', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('n_examples', sa.Integer(), nullable=False),
        sa.Column('artefact', sa.LargeBinary(), nullable=False),
        sa.Column('created_by', sa.Text(), nullable=False),
        sa.Column('created_at', TS, server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('version', name=op.f('pk_model_versions')),
    )
    op.create_index(
        'ix_model_versions_kind_fingerprint',
        'model_versions',
        ['kind', 'fingerprint'],
        unique=False,
    )
    # A registered version never changes: a new model is a new version.
    op.execute(
        "CREATE FUNCTION model_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'model versions are immutable'; END $$"
    )
    op.execute(
        "CREATE TRIGGER model_versions_immutable BEFORE UPDATE ON model_versions "
        "FOR EACH ROW EXECUTE FUNCTION model_versions_immutable()"
    )
    op.create_table(
        'model_aliases',
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('alias', sa.Text(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_by', sa.Text(), nullable=False),
        sa.Column('updated_at', TS, server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(
            ['version'],
            ['model_versions.version'],
            name=op.f('fk_model_aliases_version_model_versions'),
        ),
        sa.PrimaryKeyConstraint('kind', 'alias', name=op.f('pk_model_aliases')),
    )
    op.create_table(
        'model_alias_changes',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('alias', sa.Text(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('previous_version', sa.Integer(), nullable=True),
        sa.Column('action', sa.Text(), nullable=False),
        sa.Column('changed_by', sa.Text(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('changed_at', TS, server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_model_alias_changes')),
    )
    op.create_index(
        'ix_model_alias_changes_kind_alias',
        'model_alias_changes',
        ['kind', 'alias'],
        unique=False,
    )
    op.create_table(
        'shadow_predictions',
        sa.Column('complaint_id', sa.UUID(), nullable=False),
        sa.Column('champion_version', sa.Integer(), nullable=True),
        sa.Column('champion_label', sa.Text(), nullable=True),
        sa.Column('champion_confidence', sa.Float(), nullable=True),
        sa.Column('challenger_version', sa.Integer(), nullable=False),
        sa.Column('challenger_label', sa.Text(), nullable=True),
        sa.Column('challenger_confidence', sa.Float(), nullable=True),
        sa.Column('truth', sa.Text(), nullable=True),
        sa.Column('recorded_at', TS, nullable=False),
        sa.Column('closed_at', TS, nullable=True),
        sa.PrimaryKeyConstraint('complaint_id', name=op.f('pk_shadow_predictions')),
    )
    op.create_index(
        'ix_shadow_predictions_challenger_version',
        'shadow_predictions',
        ['challenger_version'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table('shadow_predictions')
    op.drop_table('model_alias_changes')
    op.drop_table('model_aliases')
    op.execute("DROP TRIGGER model_versions_immutable ON model_versions")
    op.execute("DROP FUNCTION model_versions_immutable()")
    op.drop_table('model_versions')
    op.drop_table('learning_examples')
