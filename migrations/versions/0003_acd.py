"""acd: agents, queues, pause reasons, memberships, agent session log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "acd_agents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("interface", sa.String(200), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("max_calls", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acd_agents")),
    )
    op.create_table(
        "acd_queues",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False),
        sa.Column("required_skills", sa.JSON(), nullable=False),
        sa.Column("ring_timeout_s", sa.Float(), nullable=False),
        sa.Column("wrapup_s", sa.Float(), nullable=False),
        sa.Column("max_wait_s", sa.Float(), nullable=True),
        sa.Column("max_len", sa.Integer(), nullable=True),
        sa.Column("overflow_target", sa.String(200), nullable=True),
        sa.Column("no_agents_target", sa.String(200), nullable=True),
        sa.Column("service_level_s", sa.Float(), nullable=False),
        sa.Column("max_no_answer", sa.Integer(), nullable=False),
        sa.Column("escalate_after_s", sa.Float(), nullable=True),
        sa.Column("escalated_skills", sa.JSON(), nullable=False),
        sa.Column("escalate_to_queue", sa.String(64), nullable=True),
        sa.Column("announce_position", sa.Boolean(), nullable=False),
        sa.Column("announce_hold_time", sa.Boolean(), nullable=False),
        sa.Column("announce_every_s", sa.Float(), nullable=False),
        sa.Column("callback_key", sa.String(1), nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acd_queues")),
    )
    op.create_table(
        "acd_pause_reasons",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("time_limit_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_acd_pause_reasons")),
    )
    op.create_table(
        "acd_memberships",
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("queue_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["acd_agents.id"],
            name=op.f("fk_acd_memberships_agent_id_acd_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["acd_queues.id"],
            name=op.f("fk_acd_memberships_queue_id_acd_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "queue_id", name=op.f("pk_acd_memberships")),
    )
    op.create_table(
        "acd_agent_sessions",
        # SQLite auto-increments only an INTEGER PRIMARY KEY (the rowid alias).
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("queue_ids", sa.JSON(), nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acd_agent_sessions")),
    )
    op.create_index(op.f("ix_acd_agent_sessions_agent_id"), "acd_agent_sessions", ["agent_id"])
    op.create_index(op.f("ix_acd_agent_sessions_at"), "acd_agent_sessions", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_acd_agent_sessions_at"), table_name="acd_agent_sessions")
    op.drop_index(op.f("ix_acd_agent_sessions_agent_id"), table_name="acd_agent_sessions")
    op.drop_table("acd_agent_sessions")
    op.drop_table("acd_memberships")
    op.drop_table("acd_pause_reasons")
    op.drop_table("acd_queues")
    op.drop_table("acd_agents")
