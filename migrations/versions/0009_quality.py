"""quality: evaluation forms, evaluations and their answers, acknowledgements

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

Reserved in the revision chain so parallel work lands in a fixed order; the tables are
added by the QA work (issue 11).
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    return None


def downgrade() -> None:
    return None
