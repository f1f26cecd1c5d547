"""Sign-in failures counted per e-mail and client, per client and per e-mail (sign_in_throttles), not on the
account row: a lock an attacker sets no longer keeps the account's owner out (users.failed_logins and
users.locked_until go)

Revision ID: c88dd8041772
Revises: 5e1f0a7c2b91
Create Date: 2026-11-27 21:10:00

An account locked by the old count when this runs is unlocked (at most 15 minutes early): its failures were
counted without the client, and cannot be given one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import aidpack.db

revision: str = "c88dd8041772"
down_revision: str | None = "5e1f0a7c2b91"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum("email_client", "client", "email", name="throttle_scope", native_enum=False,
                    create_constraint=True, length=16),
            nullable=False,
        ),
        sa.Column("email_key", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", aidpack.db.UTCDateTime(), nullable=False),
        sa.Column("locked_until", aidpack.db.UTCDateTime(), nullable=True),
        sa.Column("expires_at", aidpack.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_sign_in_throttles_failures_nonneg")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_throttles")),
        sa.UniqueConstraint("scope", "email_key", "client", name="uq_sign_in_throttles_key"),
    )
    op.create_index(op.f("ix_sign_in_throttles_expires_at"), "sign_in_throttles", ["expires_at"], unique=False)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", aidpack.db.UTCDateTime(), nullable=True))
    op.drop_index(op.f("ix_sign_in_throttles_expires_at"), table_name="sign_in_throttles")
    op.drop_table("sign_in_throttles")
