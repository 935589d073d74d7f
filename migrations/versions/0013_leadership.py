"""leadership: the high-availability epoch and lease

Revision ID: 0013_leadership
Revises: 0012
Create Date: 2026-12-06

One row (``id`` 1): ``epoch`` is bumped by every instance that takes the leader lock (a
fence: writes and claims of an older epoch are refused), ``holder`` / ``api_url`` say
who it is (a standby's API points clients there), ``lease_until`` when its lease ends
unless renewed, ``acquired_at`` when it took over.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_leadership"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "leadership",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("api_url", sa.String(500), nullable=True),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leadership")),
    )
    op.bulk_insert(table, [{"id": 1, "epoch": 0}])


def downgrade() -> None:
    op.drop_table("leadership")
