"""cdr server: the configured Asterisk server each call was on

Revision ID: 0014_cdr_server
Revises: 0013_leadership
Create Date: 2026-12-06

``cdrs.server``: the ``[[asterisk]]`` name of the server the call was on; rows written
before it were all on the one ``[ami]`` server, named ``default``. Indexed for the
``server`` filter of ``GET /api/v1/cdrs``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_cdr_server"
down_revision: str | None = "0013_leadership"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cdrs") as batch:
        batch.add_column(
            sa.Column("server", sa.String(32), nullable=False, server_default="default")
        )
        batch.create_index(op.f("ix_cdrs_server"), ["server"])


def downgrade() -> None:
    with op.batch_alter_table("cdrs") as batch:
        batch.drop_index(op.f("ix_cdrs_server"))
        batch.drop_column("server")
