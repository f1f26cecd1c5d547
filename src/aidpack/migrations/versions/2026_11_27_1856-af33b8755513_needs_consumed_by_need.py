"""A need added for what another need's plan lines consume names that need (needs.consumed_by_need_id)

Revision ID: af33b8755513
Revises: 3c9f2b7d1e4a
Create Date: 2026-11-27 18:56:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "af33b8755513"
down_revision: str | None = "3c9f2b7d1e4a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_needs_consumed_by_need_id_needs"
INDEX = "ix_needs_consumed_by_need_id"

#: The needs ``--with-consumables`` wrote before this revision, known by the ref and the notes it gave them
#: (``<ref>~<capability>``, "<capability> for <n> days of use of what plan lines send to <ref> (from <date>)"),
#: are linked to their served need, so that planning again updates them rather than adding a second one.
#: A need whose ref or notes differ (a coordinator's own) keeps no link and is never touched.
SERVED = """(
    SELECT served.id FROM needs served
    WHERE needs.ref = served.ref || '~' || needs.capability
      AND needs.notes LIKE needs.capability || ' for % days of use of what plan lines send to ' || served.ref || ' (from %'
)"""
BACKFILL = f"""
UPDATE needs SET consumed_by_need_id = {SERVED}, version = version + 1
WHERE consumed_by_need_id IS NULL AND notes LIKE '% days of use of what plan lines send to %' AND {SERVED} IS NOT NULL
"""


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    column = sa.Column(
        "consumed_by_need_id", sa.Integer(),
        sa.ForeignKey("needs.id", name=op.f(FOREIGN_KEY), ondelete="SET NULL"), nullable=True,
    )
    with op.batch_alter_table("needs") as batch:
        # SQLite takes the key inline (ALTER TABLE ... ADD COLUMN ... REFERENCES), so the batch adds the column
        # in place: copying ``needs`` to a new table would drop the table that lines and plan needs
        # reference, which SQLite refuses on a filled database with foreign keys on. PostgreSQL adds the
        # named constraint after the column.
        batch.add_column(column, inline_references=sqlite)
        batch.create_index(op.f(INDEX), ["consumed_by_need_id", "capability"], unique=True)
    op.execute(sa.text(BACKFILL))


def downgrade() -> None:
    with op.batch_alter_table("needs") as batch:
        batch.drop_index(op.f(INDEX))
        batch.drop_column("consumed_by_need_id")
