"""poems.candidates: how many poems were drawn for the one kept (engine/decoding/rerank.py), so that a
rating can be tied to whether its poem was reranked.

Rows already stored get 1: every poem before this revision was the one poem its request drew. The
column stays nullable, as the sampling columns are (NULL: unknown). Plain ADD COLUMN, then one
UPDATE, on SQLite and PostgreSQL alike.

Revision ID: 0005
Revises: 0004
Create Date: 2025-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("poems", sa.Column("candidates", sa.Integer(), nullable=True))
    op.execute("UPDATE poems SET candidates = 1")


def downgrade() -> None:
    with op.batch_alter_table("poems") as batch:
        batch.drop_column("candidates")
