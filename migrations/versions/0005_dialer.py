"""dialer: campaigns, contacts, dial attempts, do-not-call lists

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-12

``dialer_contacts``: unique (campaign_id, number) — a contact's id is derived from both, and
imports insert with ON CONFLICT DO NOTHING, so re-importing a file changes nothing; the
``due`` index (campaign_id, status, next_attempt_at) answers "the next contacts to dial for
campaign X now". ``dialer_attempts`` keeps every attempt (no cascade from contacts: the
evidence outlives the list). ``dialer_dnc``: ``campaign_id`` NULL is the global list; two
partial unique indexes (a plain unique constraint treats NULLs as distinct), both leading
with the number, which is how a dial-time check looks an entry up.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite auto-increments only an INTEGER PRIMARY KEY (the rowid alias).
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "dialer_campaigns",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("caller_id", sa.String(80), nullable=False),
        sa.Column("agent_ids", sa.JSON(), nullable=False),
        sa.Column("queue_id", sa.String(64), nullable=True),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("ring_timeout_s", sa.Float(), nullable=False),
        sa.Column("retries", sa.JSON(), nullable=False),
        sa.Column("abandon_cap_pct", sa.Float(), nullable=False),
        sa.Column("cap_override", sa.Boolean(), nullable=False),
        sa.Column("amd", sa.String(16), nullable=False),
        sa.Column("safe_harbor_prompt", sa.String(200), nullable=True),
        sa.Column("machine_message_prompt", sa.String(200), nullable=True),
        sa.Column("dispositions", sa.JSON(), nullable=False),
        sa.Column("default_region", sa.String(2), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialer_campaigns")),
    )
    op.create_table(
        "dialer_contacts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("time_zones", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", ts, nullable=True),
        sa.Column("callback_owner", sa.String(64), nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["dialer_campaigns.id"],
            name=op.f("fk_dialer_contacts_campaign_id_dialer_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialer_contacts")),
        sa.UniqueConstraint(
            "campaign_id", "number", name=op.f("uq_dialer_contacts_campaign_id_number")
        ),
    )
    op.create_index(
        "ix_dialer_contacts_due", "dialer_contacts", ["campaign_id", "status", "next_attempt_at"]
    )
    op.create_index("ix_dialer_contacts_number", "dialer_contacts", ["number"])
    op.create_table(
        "dialer_attempts",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("contact_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("started_at", ts, nullable=False),
        sa.Column("answered_at", ts, nullable=True),
        sa.Column("agent_connected_at", ts, nullable=True),
        sa.Column("ended_at", ts, nullable=True),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("disposition", sa.String(64), nullable=True),
        sa.Column("linkedid", sa.String(64), nullable=True),
        sa.Column("safe_harbor_played", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["dialer_contacts.id"],
            name=op.f("fk_dialer_attempts_contact_id_dialer_contacts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialer_attempts")),
    )
    op.create_index(
        "ix_dialer_attempts_campaign_answered", "dialer_attempts", ["campaign_id", "answered_at"]
    )
    op.create_index(op.f("ix_dialer_attempts_contact_id"), "dialer_attempts", ["contact_id"])
    op.create_index(op.f("ix_dialer_attempts_linkedid"), "dialer_attempts", ["linkedid"])
    op.create_table(
        "dialer_dnc",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("added_at", ts, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialer_dnc")),
    )
    op.create_index(
        "uq_dialer_dnc_global_number",
        "dialer_dnc",
        ["number"],
        unique=True,
        sqlite_where=sa.text("campaign_id IS NULL"),
        postgresql_where=sa.text("campaign_id IS NULL"),
    )
    op.create_index(
        "uq_dialer_dnc_number_campaign_id",
        "dialer_dnc",
        ["number", "campaign_id"],
        unique=True,
        sqlite_where=sa.text("campaign_id IS NOT NULL"),
        postgresql_where=sa.text("campaign_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_dialer_dnc_number_campaign_id", table_name="dialer_dnc")
    op.drop_index("uq_dialer_dnc_global_number", table_name="dialer_dnc")
    op.drop_table("dialer_dnc")
    op.drop_index(op.f("ix_dialer_attempts_linkedid"), table_name="dialer_attempts")
    op.drop_index(op.f("ix_dialer_attempts_contact_id"), table_name="dialer_attempts")
    op.drop_index("ix_dialer_attempts_campaign_answered", table_name="dialer_attempts")
    op.drop_table("dialer_attempts")
    op.drop_index("ix_dialer_contacts_number", table_name="dialer_contacts")
    op.drop_index("ix_dialer_contacts_due", table_name="dialer_contacts")
    op.drop_table("dialer_contacts")
    op.drop_table("dialer_campaigns")
