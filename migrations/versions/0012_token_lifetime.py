"""token lifetime: optional expiry and where a token was last used from

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

``expires_at``: after it the token is refused (401 "expired"); NULL never expires.
``last_used_from``: the source address of the token's last successful authentication,
written with ``last_used_at`` (coalesced: at most once a minute per token).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_from", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_from")
        batch.drop_column("expires_at")
