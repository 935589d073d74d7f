"""call detail records: cdrs, cdr_legs, asterisk_cdrs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXED_CDR_COLUMNS = (
    "direction",
    "caller_num",
    "callee_num",
    "started_at",
    "disposition",
    "queue",
    "agent_id",
    "campaign_id",
)


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "cdrs",
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("caller_num", sa.String(80), nullable=False),
        sa.Column("caller_name", sa.String(200), nullable=False),
        sa.Column("callee_num", sa.String(80), nullable=False),
        sa.Column("did", sa.String(80), nullable=False),
        sa.Column("started_at", ts, nullable=False),
        sa.Column("answered_at", ts, nullable=True),
        sa.Column("ended_at", ts, nullable=False),
        sa.Column("ring_s", sa.Float(), nullable=False),
        sa.Column("talk_s", sa.Float(), nullable=False),
        sa.Column("hold_s", sa.Float(), nullable=False),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_cause_text", sa.String(80), nullable=False),
        sa.Column("hung_up_by", sa.String(16), nullable=True),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("ivr_path", sa.JSON(), nullable=False),
        sa.Column("queue", sa.String(80), nullable=True),
        sa.Column("wait_s", sa.Float(), nullable=True),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("wrapup_s", sa.Float(), nullable=True),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("contact_id", sa.String(64), nullable=True),
        sa.Column("recording_ref", sa.String(500), nullable=True),
        sa.Column("written_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("linkedid", name=op.f("pk_cdrs")),
    )
    for column in _INDEXED_CDR_COLUMNS:
        op.create_index(op.f(f"ix_cdrs_{column}"), "cdrs", [column])
    op.create_table(
        "cdr_legs",
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("started_at", ts, nullable=False),
        sa.Column("answered_at", ts, nullable=True),
        sa.Column("ended_at", ts, nullable=False),
        sa.Column("caller_num", sa.String(80), nullable=False),
        sa.Column("caller_name", sa.String(200), nullable=False),
        sa.Column("connected_num", sa.String(80), nullable=False),
        sa.Column("context", sa.String(80), nullable=False),
        sa.Column("exten", sa.String(80), nullable=False),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_cause_text", sa.String(80), nullable=False),
        sa.Column("dial_status", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("uniqueid", name=op.f("pk_cdr_legs")),
    )
    op.create_index(op.f("ix_cdr_legs_linkedid"), "cdr_legs", ["linkedid"])
    op.create_table(
        "asterisk_cdrs",
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("sequence", sa.String(32), nullable=False),
        sa.Column("uniqueid", sa.String(64), nullable=False),
        sa.Column("received_at", ts, nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("linkedid", "sequence", name=op.f("pk_asterisk_cdrs")),
    )


def downgrade() -> None:
    op.drop_table("asterisk_cdrs")
    op.drop_index(op.f("ix_cdr_legs_linkedid"), table_name="cdr_legs")
    op.drop_table("cdr_legs")
    for column in reversed(_INDEXED_CDR_COLUMNS):
        op.drop_index(op.f(f"ix_cdrs_{column}"), table_name="cdrs")
    op.drop_table("cdrs")
