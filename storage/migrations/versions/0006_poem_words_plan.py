"""poems.words and poems.plan: the weights of the corpus-word bonus (engine/decoding/words.py) and of
the per-line plan (engine/decoding/plan.py) the poem was decoded with, so that a rating can be tied
to them.

Rows already stored get 0: no poem before this revision was decoded with either. The column stays
nullable, as the sampling columns are (NULL: unknown). Plain ADD COLUMN, then one UPDATE, on SQLite
and PostgreSQL alike.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("poems", sa.Column("words", sa.Float(), nullable=True))
    op.add_column("poems", sa.Column("plan", sa.Float(), nullable=True))
    op.execute("UPDATE poems SET words = 0, plan = 0")


def downgrade() -> None:
    with op.batch_alter_table("poems") as batch:
        batch.drop_column("plan")
        batch.drop_column("words")
