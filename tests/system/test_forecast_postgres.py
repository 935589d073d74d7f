"""The forecast's history query and the forecast route against real PostgreSQL
(scripts/pg-cluster): 15-minute buckets counted by the database, their edges to the
microsecond, a fall-back day in the report zone, and the same figures as on SQLite
(tests/integration/test_api_forecast.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate
from ccd.db.forecast_history import ForecastHistory
from ccd.forecast.intervals import day_bounds
from ccd.forecast.parameters import ForecastDefaults
from tests.cdrrows import cdr_row, insert_rows
from tests.forecastrows import history_rows
from tests.integration.apifakes import running_api

pytestmark = pytest.mark.postgres

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
async def engine(private_schema_engine: AsyncEngine) -> AsyncEngine:
    await migrate.upgrade(private_schema_engine)
    return private_schema_engine


async def test_buckets_are_counted_by_the_database_to_the_microsecond(
    engine: AsyncEngine,
) -> None:
    nine = datetime(2026, 11, 23, 9, tzinfo=UTC)
    edge = timedelta(microseconds=1)
    await insert_rows(
        engine,
        [
            cdr_row("a", started_at=nine - edge, queue="sales", talk_s=100.0, wrapup_s=20.0),
            cdr_row("b", started_at=nine, queue="sales", talk_s=200.0, wrapup_s=None),
            cdr_row(
                "c",
                started_at=nine + timedelta(minutes=15) - edge,
                queue="sales",
                disposition="abandoned",
                talk_s=0.0,
            ),
            cdr_row("d", started_at=nine + timedelta(minutes=15), queue="sales", talk_s=50.0),
            cdr_row("other", started_at=nine, queue="support"),
            cdr_row("before", started_at=datetime(2026, 11, 22, 23, 59, tzinfo=UTC), queue="sales"),
        ],
    )
    start, end = day_bounds(date(2026, 11, 23), UTC)
    buckets = await ForecastHistory(engine).buckets("sales", start, end)
    assert [(b.start.strftime("%H:%M"), b.offered, b.answered, b.handle_s) for b in buckets] == [
        ("08:45", 1, 1, 120.0),
        ("09:00", 2, 1, 200.0),
        ("09:15", 1, 1, 50.0),
    ]
    assert all(b.start.tzinfo is UTC for b in buckets)


async def test_a_fall_back_day_is_read_in_25_local_hours(engine: AsyncEngine) -> None:
    # 2026-10-25 in Paris: 00:00 local is 22:00 UTC the day before; 01:30 local happens
    # at 23:30 UTC, the first 02:30 at 00:30 UTC and the second at 01:30 UTC.
    day = date(2026, 10, 25)
    start, end = day_bounds(day, PARIS)
    assert end - start == timedelta(hours=25)
    times = [
        datetime(2026, 10, 24, 21, 59, tzinfo=UTC),  # the day before, locally
        datetime(2026, 10, 24, 23, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 22, 59, tzinfo=UTC),  # 23:59 local
        datetime(2026, 10, 25, 23, 0, tzinfo=UTC),  # the next day, locally
    ]
    await insert_rows(
        engine, [cdr_row(f"t{n}", started_at=t, queue="sales") for n, t in enumerate(times)]
    )
    buckets = await ForecastHistory(engine).buckets("sales", start, end)
    assert [b.start.astimezone(PARIS).strftime("%H:%M%z") for b in buckets] == [
        "01:30+0200",
        "02:30+0200",
        "02:30+0100",
        "23:45+0100",
    ]


async def test_the_route_gives_the_same_figures_as_on_sqlite(engine: AsyncEngine) -> None:
    mondays = (date(2026, 11, 23), date(2026, 11, 16), date(2026, 11, 9))
    await insert_rows(
        engine, [row for k, day in enumerate(mondays) for row in history_rows(day, f"m{k}")]
    )
    defaults = ForecastDefaults(interval=30, weeks=3)
    async with running_api(
        forecast_history=ForecastHistory(engine), forecast_defaults=defaults
    ) as api:
        response = await api.client.get(
            "/api/v1/forecast?queue=sales&date=2026-11-30", headers=api.auth("supervisor")
        )
        assert response.status == 200, await response.text()
        body = await response.json()
    assert [d["offered"] for d in body["method"]["history_days"]] == [101, 101, 101]
    nine = next(row for row in body["intervals"] if row["start"].startswith("2026-11-30T09:00"))
    assert (nine["volume"], nine["aht_s"], nine["agents"]) == (100.0, 180.0, 14)
    assert body["totals"]["agent_hours"] == 7.5
