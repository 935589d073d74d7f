"""surveys: post-call survey answers per call and question

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Reserved in the revision chain so parallel work lands in a fixed order; the tables are
added by the survey work (issue 11).
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    return None


def downgrade() -> None:
    return None
