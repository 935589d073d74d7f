"""recording server: the configured Asterisk server that wrote each recording's file

Revision ID: 0017_recording_server
Revises: 0016_campaign_server
Create Date: 2026-12-07

``recordings.server``: the ``[[asterisk]]`` name of the server whose MixMonitor wrote
the file; each server writes on its own file system, so playback and retention read
that server's directory. NULL (every row written before it) means the default, first
configured, server.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_recording_server"
down_revision: str | None = "0016_campaign_server"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("server", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("server")
