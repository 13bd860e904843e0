"""users: each user's preferences (/card on|off, /script 繁|简); poems: the script each was shown in.

Users already stored get NULL preferences: never chosen, so the bot's defaults apply (cards on,
simplified). Poems already stored get script 'simplified' (server default), the only script there
was; their text stays what the model wrote, in simplified characters, as every new poem's does.

Revision ID: 0003
Revises: 0002
Create Date: 2025-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch table copy): SQLite does it in place, so no row is rewritten.
    op.add_column("users", sa.Column("card", sa.Boolean(), nullable=True))
    op.add_column("users", sa.Column("script", sa.String(length=16), nullable=True))
    op.add_column("poems", sa.Column("script", sa.String(length=16), server_default="simplified", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("poems") as batch:
        batch.drop_column("script")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("script")
        batch.drop_column("card")
