"""The reports on real PostgreSQL (scripts/pg-cluster): the hand-computed figures of
tests/reportrows.py, read by the same queries as on SQLite (a private schema, dropped
afterwards)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate
from ccd.db.report_queries import ReportQueries
from ccd.reports.buckets import Interval
from ccd.reports.service import ReportRequest, ReportRules, ReportService
from tests.reportrows import (
    EXPECTED_AGENTS,
    EXPECTED_CAMPAIGN_09,
    EXPECTED_QUEUES,
    EXPECTED_TOTALS,
    FROM,
    TO,
    load_report_fixture,
    subset,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
async def service(private_schema_engine: AsyncEngine) -> ReportService:
    await migrate.upgrade(private_schema_engine)
    await load_report_fixture(private_schema_engine)
    # Batches of 2 rows: every stream crosses several keyset pages.
    return ReportService(ReportQueries(private_schema_engine, batch_rows=2), ReportRules())


def request(key: str | None = None) -> ReportRequest:
    return ReportRequest(
        start=FROM,
        end=TO,
        interval=Interval.MIN60,
        zone=ZoneInfo("UTC"),
        now=TO.replace(day=25),
        key=key,
    )


def by_key(rows: list[dict[str, Any]], key: str) -> dict[tuple[str, int], dict[str, Any]]:
    return {(row[key], datetime.fromisoformat(row["start"]).hour): row for row in rows}


async def test_queue_agent_and_campaign_reports_on_postgres(service: ReportService) -> None:
    queue_report = await service.queue_report(request())
    queues = by_key(queue_report["rows"], "queue")
    [sales] = [row for row in queue_report["totals"] if row["queue"] == "sales"]
    assert subset(sales, EXPECTED_TOTALS["sales"]) == EXPECTED_TOTALS["sales"]
    for key, expected in EXPECTED_QUEUES.items():
        assert subset(queues[key], expected) == expected, key
    agents = by_key((await service.agent_report(request()))["rows"], "agent_id")
    for key, expected in EXPECTED_AGENTS.items():
        assert subset(agents[key], expected) == expected, key
    campaigns = by_key((await service.campaign_report(request("winter")))["rows"], "campaign_id")
    assert subset(campaigns[("winter", 9)], EXPECTED_CAMPAIGN_09) == EXPECTED_CAMPAIGN_09
