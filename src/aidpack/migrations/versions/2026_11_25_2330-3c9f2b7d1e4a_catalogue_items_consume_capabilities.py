"""Catalogue items may consume capabilities while in use (items.consumes, e.g. DIESEL-L:648 per day)

Revision ID: 3c9f2b7d1e4a
Revises: 717ddcdfa508
Create Date: 2026-11-25 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c9f2b7d1e4a"
down_revision: str | None = "717ddcdfa508"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("consumes", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("consumes")
