"""dialer attempts: safe-harbor time, AMD status, AMI action id, call backs; contacts: why
done, last outcome, call-back flag

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

``dialer_attempts``: ``safe_harbor_at`` (when the safe-harbor message started: compliance
evidence), ``amd_status`` (Asterisk's AMDSTATUS), ``action_id`` (the AMI ActionID /
ChannelId the call was placed with, indexed: a restarted dialer finds its calls by it) and
``call_back``; the (campaign_id, started_at) index answers the live view's "attempts since
midnight". ``dialer_contacts``: ``done_reason`` (``retries.DoneReason``), ``last_outcome``
and ``call_back`` (the next attempt is a call back). The booleans default to false, so rows
written before this revision read as "not a call back".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dialer_attempts") as batch:
        batch.add_column(sa.Column("safe_harbor_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("amd_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("action_id", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("call_back", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index(op.f("ix_dialer_attempts_action_id"), "dialer_attempts", ["action_id"])
    op.create_index(
        "ix_dialer_attempts_campaign_started", "dialer_attempts", ["campaign_id", "started_at"]
    )
    with op.batch_alter_table("dialer_contacts") as batch:
        batch.add_column(
            sa.Column("call_back", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("done_reason", sa.String(16), nullable=True))
        batch.add_column(sa.Column("last_outcome", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dialer_contacts") as batch:
        batch.drop_column("last_outcome")
        batch.drop_column("done_reason")
        batch.drop_column("call_back")
    op.drop_index("ix_dialer_attempts_campaign_started", table_name="dialer_attempts")
    op.drop_index(op.f("ix_dialer_attempts_action_id"), table_name="dialer_attempts")
    with op.batch_alter_table("dialer_attempts") as batch:
        batch.drop_column("call_back")
        batch.drop_column("action_id")
        batch.drop_column("amd_status")
        batch.drop_column("safe_harbor_at")
