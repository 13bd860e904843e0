"""poems: the decoding settings of each poem (storage.models.Decoding), so a rating can be tied to them.

Rows already stored get scheme 'pingshui' and strict true, the defaults every front end used before
this revision (server defaults); their sampling columns stay NULL: unknown, not guessed. New rows carry
all eight.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SAMPLING = {
    "temperature": sa.Float(),
    "top_k": sa.Integer(),
    "top_p": sa.Float(),
    "min_p": sa.Float(),
    "theme": sa.Float(),
    "parallel": sa.Float(),
}


def upgrade() -> None:
    # Plain ADD COLUMN (no batch table copy): SQLite does it in place, so no row is rewritten.
    op.add_column("poems", sa.Column("scheme", sa.String(length=16), server_default="pingshui", nullable=False))
    op.add_column("poems", sa.Column("strict", sa.Boolean(), server_default=sa.true(), nullable=False))
    for name, type_ in SAMPLING.items():
        op.add_column("poems", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("poems") as batch:
        for name in ("scheme", "strict", *SAMPLING):
            batch.drop_column(name)
