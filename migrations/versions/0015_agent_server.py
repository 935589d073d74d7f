"""agent server: the configured Asterisk server each ACD agent's device is on

Revision ID: 0015_agent_server
Revises: 0014_cdr_server
Create Date: 2026-12-07

``acd_agents.server``: the ``[[asterisk]]`` name of the server the agent's device is on;
NULL (every row written before it) means the default, first configured, server. Queues
are per server: the ACD offers a caller only agents on the caller's server.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_agent_server"
down_revision: str | None = "0014_cdr_server"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("acd_agents") as batch:
        batch.add_column(sa.Column("server", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acd_agents") as batch:
        batch.drop_column("server")
