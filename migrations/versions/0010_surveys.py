"""surveys: post-call survey answers per call and question

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

``survey_responses``: one row per question a caller was asked after the agent hung up —
the call's ``linkedid`` (its CDR), the queue, agent and campaign of the call, the
question's key and the score 1..5 (NULL: asked, not answered). ``acd_queues.survey_flow``
names the IVR flow holding the survey a queue's callers get after the agent hangs up.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_responses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(80), nullable=True),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("question", sa.String(64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
        sa.CheckConstraint(
            "score IS NULL OR (score >= 1 AND score <= 5)",
            name=op.f("ck_survey_responses_score_range"),
        ),
        sa.UniqueConstraint("linkedid", "question", name=op.f("uq_survey_responses_linkedid")),
    )
    op.create_index(op.f("ix_survey_responses_linkedid"), "survey_responses", ["linkedid"])
    op.create_index(op.f("ix_survey_responses_answered_at"), "survey_responses", ["answered_at"])
    with op.batch_alter_table("acd_queues") as batch:
        batch.add_column(sa.Column("survey_flow", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acd_queues") as batch:
        batch.drop_column("survey_flow")
    op.drop_table("survey_responses")
