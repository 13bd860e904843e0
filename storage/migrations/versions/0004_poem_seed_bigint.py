"""poems.seed: a 64-bit integer (BIGINT), so that every seed a request may take (below
engine.request.MAX_SEED, 2^63) can be stored; INTEGER held only seeds below 2^31 on PostgreSQL.

Rows already stored keep their seeds (every INTEGER fits a BIGINT). On PostgreSQL this is one ALTER
COLUMN ... TYPE BIGINT; on SQLite, where INTEGER already held 64 bits, the batch copy only renames the
declared type.

Revision ID: 0004
Revises: 0003
Create Date: 2025-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("poems") as batch:
        batch.alter_column("seed", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)


def downgrade() -> None:
    # Fails on PostgreSQL while a stored seed is 2^31 or more: no seed is silently cut.
    with op.batch_alter_table("poems") as batch:
        batch.alter_column("seed", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
