"""recordings: policy per queue and campaign, one row per recording, pauses

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

``acd_queues`` and ``dialer_campaigns`` get ``recording_mode`` (all, none, percent) and
``recording_percent`` (0-100, read when the mode is percent); existing rows record nothing.
``recordings``: one row per recorded call — its call (linkedid), agent, queue or campaign,
file name, start and end, PCI pauses (JSON intervals), size, and when retention deleted it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY_TABLES = ("acd_queues", "dialer_campaigns")


def upgrade() -> None:
    for table in POLICY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("recording_mode", sa.String(8), nullable=False, server_default="none")
            )
            batch.add_column(
                sa.Column("recording_percent", sa.Integer(), nullable=False, server_default="0")
            )
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(150), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("queue_id", sa.String(64), nullable=True),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("file", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pauses", sa.JSON(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
    )
    op.create_index(op.f("ix_recordings_linkedid"), "recordings", ["linkedid"])
    op.create_index(op.f("ix_recordings_agent_id"), "recordings", ["agent_id"])
    op.create_index(op.f("ix_recordings_started_at"), "recordings", ["started_at"])


def downgrade() -> None:
    op.drop_table("recordings")
    for table in POLICY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("recording_percent")
            batch.drop_column("recording_mode")
