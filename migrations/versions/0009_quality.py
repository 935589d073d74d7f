"""quality: evaluation forms (versioned), evaluations and their answers, acknowledgements

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

``qa_forms``: one row per form (its id, name and latest version). ``qa_form_versions``:
every version of a form's sections and questions as JSON; a version never changes once
written (an edit adds the next one), so an evaluation keeps scoring against the questions
it was made with. ``qa_evaluations``: one scored call (the CDR's linkedid, agent, queue,
campaign and recording copied at evaluation time), its ``score_pct`` (NULL when every
answer is N/A), the form version, comments, who evaluated and the agent's acknowledgement.
``qa_answers``: one row per question answered, with that question's own percentage (NULL
for N/A) so per-question averages are computed by the database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "qa_forms",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_forms")),
    )
    op.create_table(
        "qa_form_versions",
        sa.Column("form_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["qa_forms.id"],
            name=op.f("fk_qa_form_versions_form_id_qa_forms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("form_id", "version", name=op.f("pk_qa_form_versions")),
    )
    op.create_table(
        "qa_evaluations",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("queue", sa.String(80), nullable=True),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("recording_ref", sa.String(500), nullable=True),
        sa.Column("form_id", sa.String(64), nullable=False),
        sa.Column("form_version", sa.Integer(), nullable=False),
        sa.Column("score_pct", sa.Float(), nullable=True),
        sa.Column("critical_failed", sa.Boolean(), nullable=False),
        sa.Column("comments", sa.String(4000), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evaluator_token_id", sa.String(64), nullable=False),
        sa.Column("evaluator_role", sa.String(16), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledgement_comment", sa.String(2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["form_id", "form_version"],
            ["qa_form_versions.form_id", "qa_form_versions.version"],
            name=op.f("fk_qa_evaluations_form_id_qa_form_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_evaluations")),
    )
    op.create_index(op.f("ix_qa_evaluations_linkedid"), "qa_evaluations", ["linkedid"])
    op.create_index(op.f("ix_qa_evaluations_agent_id"), "qa_evaluations", ["agent_id"])
    op.create_index(op.f("ix_qa_evaluations_evaluated_at"), "qa_evaluations", ["evaluated_at"])
    op.create_table(
        "qa_answers",
        sa.Column("evaluation_id", _ID, nullable=False),
        sa.Column("question_id", sa.String(64), nullable=False),
        sa.Column("answer", sa.String(8), nullable=False),
        sa.Column("score_pct", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["qa_evaluations.id"],
            name=op.f("fk_qa_answers_evaluation_id_qa_evaluations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("evaluation_id", "question_id", name=op.f("pk_qa_answers")),
    )


def downgrade() -> None:
    op.drop_table("qa_answers")
    op.drop_table("qa_evaluations")
    op.drop_table("qa_form_versions")
    op.drop_table("qa_forms")
