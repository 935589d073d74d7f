"""CDR history for the forecast tests (API, CLI, PostgreSQL): one Monday's calls to sales."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.cdrrows import cdr_row


def history_rows(day: date, prefix: str) -> list[dict[str, Any]]:
    """100 calls to sales between 09:00 and 09:30 UTC (90 answered, talk 170 s + 10 s
    wrap-up; 10 abandoned), and one answered at 09:30:00 sharp."""
    nine = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    rows = [
        cdr_row(
            f"{prefix}.{n}",
            started_at=nine + timedelta(seconds=n * 17.99),
            queue="sales",
            disposition="answered" if n < 90 else "abandoned",
            talk_s=170.0 if n < 90 else 0.0,
            wrapup_s=10.0 if n < 90 else None,
        )
        for n in range(100)
    ]
    rows.append(
        cdr_row(
            f"{prefix}.half",
            started_at=nine + timedelta(minutes=30),
            queue="sales",
            talk_s=100.0,
            wrapup_s=None,
        )
    )
    return rows
