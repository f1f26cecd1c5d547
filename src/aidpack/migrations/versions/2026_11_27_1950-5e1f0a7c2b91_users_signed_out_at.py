"""A user's sign-out voids every web session signed in before it (users.signed_out_at)

Revision ID: 5e1f0a7c2b91
Revises: af33b8755513
Create Date: 2026-11-27 19:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import aidpack.db

revision: str = "5e1f0a7c2b91"
down_revision: str | None = "af33b8755513"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("signed_out_at", aidpack.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("signed_out_at")
