"""cdr legs name the agent they rang; number searches indexed for prefixes and DIDs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

``cdr_legs.agent_id``: ccd's ACD agent legs are legs of the customer's call (a ring never
answered is an attempt of that call); the column says which agent each one rang.
Number filters (``number=…`` exact or prefix over caller, callee and DID): a plain index on
``did`` for exact DID searches, and on PostgreSQL ``varchar_pattern_ops`` indexes so that
``LIKE 'prefix%'`` can use an index whatever the database's collation (SQLite's LIKE is
case-insensitive and never uses one; it keeps the plain indexes).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NUMBER_COLUMNS = ("caller_num", "callee_num", "did")


def upgrade() -> None:
    with op.batch_alter_table("cdr_legs") as batch:
        batch.add_column(sa.Column("agent_id", sa.String(64), nullable=True))
    op.create_index(op.f("ix_cdrs_did"), "cdrs", ["did"])
    if op.get_bind().dialect.name == "postgresql":
        for column in NUMBER_COLUMNS:
            op.create_index(
                f"ix_cdrs_{column}_prefix",
                "cdrs",
                [column],
                postgresql_ops={column: "varchar_pattern_ops"},
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in reversed(NUMBER_COLUMNS):
            op.drop_index(f"ix_cdrs_{column}_prefix", table_name="cdrs")
    op.drop_index(op.f("ix_cdrs_did"), table_name="cdrs")
    with op.batch_alter_table("cdr_legs") as batch:
        batch.drop_column("agent_id")
