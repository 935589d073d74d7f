"""recordings: policy per queue and campaign, one row per recording, pauses

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Reserved in the revision chain so parallel work lands in a fixed order; the tables are
added by the recording work (issue 11).
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    return None


def downgrade() -> None:
    return None
