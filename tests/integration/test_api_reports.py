"""The reports over HTTP on SQLite: the hand-computed figures of tests/reportrows.py, CSV,
roles and validation."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.engine import create_engine
from ccd.db.report_queries import ReportQueries
from ccd.reports.service import ReportRules, ReportService
from tests.integration.apifakes import Api, error_fields, running_api, send
from tests.integration.authmatrix import (
    IDENTITIES,
    REPORT_ENDPOINTS,
    call,
    expected_status,
    headers_for,
)
from tests.reportrows import (
    EXPECTED_AGENTS,
    EXPECTED_CAMPAIGN_09,
    EXPECTED_QUEUES,
    EXPECTED_TOTALS,
    load_report_fixture,
    subset,
)

RANGE = "from=2026-11-24T09:00:00Z&to=2026-11-24T11:00:00Z"


def service(engine: AsyncEngine, **rules: Any) -> ReportService:
    # Small batches, so the keyset walk crosses batch boundaries on this data set.
    return ReportService(ReportQueries(engine, batch_rows=3), ReportRules(**rules))


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    await load_report_fixture(engine)
    async with running_api(reports=service(engine)) as api:
        yield api


def by_key(rows: list[dict[str, Any]], key: str) -> dict[tuple[str, int], dict[str, Any]]:
    return {(row[key], datetime.fromisoformat(row["start"]).hour): row for row in rows}


async def test_queue_report_figures_by_hour(api: Api) -> None:
    status, body = await send(api, "GET", f"/api/v1/reports/queues?{RANGE}&interval=60")
    assert status == 200, body
    assert body["from"] == "2026-11-24T09:00:00+00:00"
    assert body["to"] == "2026-11-24T11:00:00+00:00"
    assert (body["interval"], body["zone"]) == ("60", "UTC")
    rows = by_key(body["rows"], "queue")
    assert set(rows) == set(EXPECTED_QUEUES)
    for key, expected in EXPECTED_QUEUES.items():
        assert subset(rows[key], expected) == expected, key
    sales = rows[("sales", 9)]
    assert (sales["start"], sales["end"]) == (
        "2026-11-24T09:00:00+00:00",
        "2026-11-24T10:00:00+00:00",
    )
    assert sales["service_level_target_s"] == 20.0
    assert rows[("support", 10)]["service_level_target_s"] == 30.0


async def test_queue_report_one_queue_by_day(api: Api) -> None:
    # The day of 2026-11-24 (to as a date is the whole day): sales has c1-c8 (c12 at 11:00
    # is in the day too): offered 9, answered 5 (c1 c2 c6 c8 c12), within 20 s 4 (not c2):
    # SL 4 / (9 - 1) = 50.0 %.
    status, body = await send(
        api, "GET", "/api/v1/reports/queues?from=2026-11-24&to=2026-11-24&interval=day&queue=sales"
    )
    assert status == 200, body
    [row] = body["rows"]
    assert (row["queue"], row["offered"], row["answered"]) == ("sales", 9, 5)
    assert row["service_level_pct"] == 50.0
    assert (row["start"], row["end"]) == ("2026-11-24T00:00:00+00:00", "2026-11-25T00:00:00+00:00")


async def test_agent_report_figures(api: Api) -> None:
    status, body = await send(api, "GET", f"/api/v1/reports/agents?{RANGE}")
    assert status == 200, body
    rows = by_key(body["rows"], "agent_id")
    for key, expected in EXPECTED_AGENTS.items():
        assert subset(rows[key], expected) == expected, key


async def test_an_agent_reads_only_their_own_report(api: Api) -> None:
    status, body = await send(api, "GET", f"/api/v1/reports/agents?{RANGE}", role="agent")
    assert status == 200
    assert {row["agent_id"] for row in body["rows"]} == {"1001"}
    status, problem = await send(
        api, "GET", f"/api/v1/reports/agents?{RANGE}&agent=1002", role="agent"
    )
    assert status == 403, problem


async def test_queue_report_as_csv(api: Api) -> None:
    response = await api.client.get(
        f"/api/v1/reports/queues?{RANGE}&format=csv", headers=api.auth("analyst")
    )
    assert response.status == 200
    assert response.content_type == "text/csv"
    table = list(csv.DictReader(io.StringIO(await response.text())))
    assert len(table) == 4
    first = table[0]
    assert (first["queue"], first["start"], first["offered"], first["service_level_pct"]) == (
        "sales",
        "2026-11-24T09:00:00+00:00",
        "7",
        "33.33",
    )
    # Unknown figures are empty cells.
    support = table[2]
    assert (support["queue"], support["offered"], support["asa_s"]) == ("support", "0", "")


async def test_agent_csv_has_a_column_per_pause_reason(api: Api) -> None:
    response = await api.client.get(
        f"/api/v1/reports/agents?{RANGE}&format=csv&agent=1001", headers=api.auth("supervisor")
    )
    table = list(csv.DictReader(io.StringIO(await response.text())))
    assert [(r["pause_by_reason:lunch"], r["pause_by_reason:training"]) for r in table] == [
        ("900.0", "0"),
        ("0", "1800.0"),
    ]


async def test_quarter_hours_across_the_autumn_dst_change(engine: AsyncEngine) -> None:
    # Europe/Paris leaves summer time on 2026-10-25 at 03:00 CEST = 01:00 UTC: wall clock
    # 02:00-03:00 happens twice. Quarter hours from 01:30 to 03:30 local are 3 hours of real
    # time = 12 buckets, with 02:00, 02:15, 02:30, 02:45 twice (+02:00, then +01:00).
    async with running_api(reports=service(engine)) as api:
        status, body = await send(
            api,
            "GET",
            "/api/v1/reports/queues?from=2026-10-25T01:30:00&to=2026-10-25T03:30:00"
            "&interval=15&zone=Europe/Paris&queue=sales",
        )
    assert status == 200, body
    starts = [row["start"] for row in body["rows"]]
    assert len(starts) == 12
    assert starts[2:10] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:15:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:45:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:15:00+01:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T02:45:00+01:00",
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=2026-11-24", "from"),
        ("from=yesterday", "from"),
        (f"{RANGE}&interval=5", "interval"),
        (f"{RANGE}&zone=Mars/Olympus", "zone"),
        (f"{RANGE}&format=xlsx", "format"),
        (f"{RANGE}&agent=1001", "agent"),  # not a parameter of the queue report
        (f"{RANGE}&queue=a&queue=b", "queue"),
        (f"{RANGE}&queue=sa%0Ales", "queue"),
        ("from=2026-11-24T11:00:00Z&to=2026-11-24T09:00:00Z", "from"),
        # A year of quarter hours is 35,040 intervals.
        ("from=2026-01-01&to=2026-12-31&interval=15", "interval"),
        # The calendar's ends (a report reads 72 h past to): out of range, never a 500.
        ("from=9998-12-30&to=9999-12-31&interval=day", "to"),
        ("from=0001-01-01&to=0001-01-02&interval=day&zone=Asia/Tokyo", "from"),
        ("from=1969-12-31T23:00:00Z&to=1970-01-02", "from"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(api: Api, query: str, field: str) -> None:
    status, problem = await send(api, "GET", f"/api/v1/reports/queues?{query}")
    assert status == 422, problem
    assert field in error_fields(problem)


async def test_too_many_rows_is_422(engine: AsyncEngine) -> None:
    await load_report_fixture(engine)
    async with running_api(reports=service(engine, max_rows=3)) as api:
        status, problem = await send(api, "GET", f"/api/v1/reports/queues?{RANGE}")
    # 2 queues x 2 hours = 4 rows > 3.
    assert status == 422
    assert error_fields(problem) == {"interval"}
    assert "4 rows" in problem["errors"][0]["message"]


async def test_without_a_report_service_reports_are_503() -> None:
    async with running_api(allow_server_errors=True) as api:
        status, _ = await send(api, "GET", f"/api/v1/reports/queues?{RANGE}")
    assert status == 503


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(REPORT_ENDPOINTS))
async def test_auth_matrix(route: str, identity: str, engine: AsyncEngine) -> None:
    endpoint = REPORT_ENDPOINTS[route]
    async with running_api(reports=service(engine)) as api:
        assert await call(api, endpoint, headers_for(identity)) == expected_status(
            endpoint, identity
        )


async def test_campaign_report_dialer_figures(api: Api) -> None:
    status, body = await send(
        api, "GET", f"/api/v1/reports/campaigns?{RANGE}&campaign=winter", role="integrator"
    )
    assert status == 200, body
    rows = by_key(body["rows"], "campaign_id")
    assert subset(rows[("winter", 9)], EXPECTED_CAMPAIGN_09) == EXPECTED_CAMPAIGN_09
    assert rows[("winter", 10)]["attempts"] == 0
    assert rows[("winter", 10)]["dispositions"] == {}


async def test_a_call_back_disposition_is_configurable(engine: AsyncEngine) -> None:
    # With no unresolved dispositions, o2 is resolved: winter's FCR is 2 / 2.
    await load_report_fixture(engine)
    async with running_api(reports=service(engine, unresolved_dispositions=frozenset())) as api:
        _, body = await send(api, "GET", f"/api/v1/reports/campaigns?{RANGE}&interval=day")
    [winter] = [row for row in body["rows"] if row["campaign_id"] == "winter"]
    assert winter["fcr_pct"] == 100.0


async def test_wall_clock_times_are_read_in_the_report_zone(api: Api) -> None:
    # 10:00-12:00 in Paris (UTC+01:00 in November) is the fixture's 09:00-11:00 UTC.
    status, body = await send(
        api,
        "GET",
        "/api/v1/reports/queues?from=2026-11-24T10:00&to=2026-11-24T12:00"
        "&zone=Europe/Paris&queue=sales",
    )
    assert status == 200, body
    assert body["zone"] == "Europe/Paris"
    assert [(row["start"], row["offered"]) for row in body["rows"]] == [
        ("2026-11-24T10:00:00+01:00", 7),
        ("2026-11-24T11:00:00+01:00", 1),
    ]


async def test_an_unreachable_database_is_503(tmp_path: Path) -> None:
    # A database file in a directory that does not exist: every query fails.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'ccd.sqlite3'}")
    try:
        async with running_api(reports=service(engine), allow_server_errors=True) as api:
            status, problem = await send(api, "GET", f"/api/v1/reports/queues?{RANGE}")
    finally:
        await engine.dispose()
    assert status == 503
    assert "unavailable" in problem["detail"]


async def test_totals_over_the_range(api: Api) -> None:
    _, queues = await send(api, "GET", f"/api/v1/reports/queues?{RANGE}")
    [sales] = [row for row in queues["totals"] if row["queue"] == "sales"]
    assert (sales["start"], sales["end"]) == (queues["from"], queues["to"])
    assert subset(sales, EXPECTED_TOTALS["sales"]) == EXPECTED_TOTALS["sales"]
    _, agents = await send(api, "GET", f"/api/v1/reports/agents?{RANGE}&agent=1001")
    [agent] = agents["totals"]
    assert subset(agent, EXPECTED_TOTALS["1001"]) == EXPECTED_TOTALS["1001"]
    _, campaigns = await send(api, "GET", f"/api/v1/reports/campaigns?{RANGE}&campaign=winter")
    [winter] = campaigns["totals"]
    assert subset(winter, EXPECTED_CAMPAIGN_09) == EXPECTED_CAMPAIGN_09


async def test_a_call_in_progress_at_from_counts_its_handling_inside_the_range(
    api: Api,
) -> None:
    # c1 (agent 1001) started 09:05, answered 09:05:10, talked 100 s to 09:06:50 and wrapped
    # up 10 s to 09:07:00. From 09:06 it was still being handled for 60 s of the range; the
    # 09:00-09:15 quarter shows the same 60 s of it whether the report starts at 09:00 or
    # at 09:06 (c6 at 09:40 is outside both).
    query = "interval=15&agent=1001&to=2026-11-24T09:15:00Z"
    _, whole = await send(api, "GET", f"/api/v1/reports/agents?from=2026-11-24T09:00:00Z&{query}")
    assert whole["rows"][0]["handling_s"] == 110.0
    status, cut = await send(
        api, "GET", f"/api/v1/reports/agents?from=2026-11-24T09:06:00Z&{query}"
    )
    assert status == 200, cut
    [row] = cut["rows"]
    assert row["start"] == "2026-11-24T09:06:00+00:00"
    assert row["logged_in_s"] == 540.0
    assert row["handling_s"] == 60.0
    assert row["occupancy_pct"] == round(100 * 60 / 540, 2)
    # The call itself (and its AHT) belongs to the interval it started in, before the range.
    assert row["handled"] == 0


async def test_a_basic_format_date_is_a_whole_day_too(api: Api) -> None:
    # 20261124 is the ISO 8601 date 2026-11-24 (basic format): as `to` it means the end of
    # that day, like 2026-11-24 (it was read as its midnight: the day's calls left out).
    extended = "/api/v1/reports/queues?from=2026-11-24&to=2026-11-24&interval=day&queue=sales"
    _, expected = await send(api, "GET", extended)
    status, body = await send(
        api, "GET", "/api/v1/reports/queues?from=20261124&to=20261124&interval=day&queue=sales"
    )
    assert status == 200, body
    assert body["rows"] == expected["rows"]
    assert body["rows"][0]["offered"] == 9
