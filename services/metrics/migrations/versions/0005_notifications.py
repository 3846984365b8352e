"""notifications: the escalation ladder's messages, owed once and delivered after commit

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

from jiesu_common.notify_store import create_notifications_table, drop_notifications_table

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_notifications_table(op)


def downgrade() -> None:
    drop_notifications_table(op)
