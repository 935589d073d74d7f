"""campaign server: the configured Asterisk server a dialer campaign dials through

Revision ID: 0016_campaign_server
Revises: 0015_agent_server
Create Date: 2026-12-07

``dialer_campaigns.server``: the ``[[asterisk]]`` name of the server every call of the
campaign is placed on (its customer legs and its agents' rings); NULL (every row written
before it) means the default, first configured, server.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_campaign_server"
down_revision: str | None = "0015_agent_server"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dialer_campaigns") as batch:
        batch.add_column(sa.Column("server", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dialer_campaigns") as batch:
        batch.drop_column("server")
