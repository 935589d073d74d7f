"""GET /api/v1/forecast on SQLite history (CDR rows inserted as the writer would): the
figures a planner reads, who may read them, and every bad parameter as a 422 naming it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.forecast_history import ForecastHistory
from ccd.forecast.parameters import ForecastDefaults
from tests.cdrrows import cdr_row, insert_rows
from tests.forecastrows import history_rows
from tests.integration.apifakes import Api, running_api
from tests.integration.authmatrix import (
    FORECAST_ENDPOINTS,
    IDENTITIES,
    call,
    expected_status,
    headers_for,
)

# The API's clock stands at Wednesday 2026-11-25 09:00:30 UTC; Monday 2026-11-30 is
# forecast from the Mondays 11-23, 11-16, 11-09, ...
TARGET = "2026-11-30"
MONDAYS = (date(2026, 11, 23), date(2026, 11, 16), date(2026, 11, 9))


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    rows = [row for k, day in enumerate(MONDAYS) for row in history_rows(day, f"m{k}")]
    # Not the queue's, or not a Monday: none of these count in the Mondays' figures
    # (a Tuesday call a week keeps the weekly totals flat: no trend).
    rows += [
        cdr_row("other-queue", started_at=datetime(2026, 11, 23, 9, 5, tzinfo=UTC), queue="x"),
        *(
            cdr_row(
                f"tuesday{day}", started_at=datetime(2026, 11, day, 9, 5, tzinfo=UTC), queue="sales"
            )
            for day in (24, 17, 10)
        ),
        cdr_row("no-queue", started_at=datetime(2026, 11, 23, 9, 5, tzinfo=UTC)),
    ]
    await insert_rows(engine, rows)
    async with running_api(forecast_history=ForecastHistory(engine)) as api:
        yield api


async def get(api: Api, query: str, role: str = "analyst") -> tuple[int, Any]:
    response = await api.client.get(f"/api/v1/forecast?{query}", headers=api.auth(role))
    return response.status, await response.json()


def by_local_start(body: Any) -> dict[str, Any]:
    return {row["local_start"][11:16]: row for row in body["intervals"]}


async def test_the_textbook_half_hour_needs_14_agents(api: Api) -> None:
    status, body = await get(api, f"queue=sales&date={TARGET}&weeks=3&interval=30")
    assert status == 200, body
    assert body["queue"] == "sales"
    assert body["date"] == TARGET
    assert body["zone"] == "UTC"
    assert body["target"] == {
        "sl_target_pct": 80.0,
        "sl_seconds": 20.0,
        "max_occupancy_pct": 85.0,
        "shrinkage_pct": 0.0,
    }
    assert [d["date"] for d in body["method"]["history_days"]] == [str(d) for d in MONDAYS]
    assert [d["offered"] for d in body["method"]["history_days"]] == [101, 101, 101]
    assert body["method"]["history_weeks"] == [
        {"from": "2026-11-18", "to": "2026-11-24", "offered": 102},
        {"from": "2026-11-11", "to": "2026-11-17", "offered": 102},
        {"from": "2026-11-04", "to": "2026-11-10", "offered": 102},
    ]
    assert body["method"]["trend_pct_per_week"] == 0.0
    assert body["method"]["level_factor"] == 1.0
    assert len(body["intervals"]) == 48
    rows = by_local_start(body)
    nine = rows["09:00"]
    # 100 calls at 180 s in 30 minutes: 10 Erlangs, 14 agents, 88.8 % in 20 s.
    assert nine["volume"] == 100.0
    assert nine["aht_s"] == 180.0
    # The day's AHT (a little lower: the 100 s call) pulls it by 10 calls' worth, which
    # over 3 x 90 calls moves it 0.03 s.
    assert nine["traffic_erlangs"] == pytest.approx(10.0, abs=0.005)
    assert nine["agents"] == 14
    assert nine["limited_by"] == "service_level"
    assert nine["service_level_pct"] == 88.8
    assert nine["occupancy_pct"] == 71.4
    # The call at 09:30:00 belongs to the next half-hour; its AHT is pulled toward the
    # day's (90·180 + 100) / 91 by 10 calls' worth: (3·100 + 10·179.12) / 13.
    half = rows["09:30"]
    assert half["volume"] == 1.0
    assert half["aht_s"] == pytest.approx((300 + 10 * (90 * 180 + 100) / 91) / 13, abs=0.05)
    assert half["agents"] == 1
    quiet = rows["03:00"]
    assert (quiet["volume"], quiet["agents"], quiet["limited_by"]) == (0.0, 0, "no_calls")
    assert quiet["service_level_pct"] is None
    assert body["totals"]["volume"] == 101.0
    assert body["totals"]["peak_agents"] == 14
    assert body["totals"]["agent_hours"] == 7.5  # (14 + 1) x half an hour


async def test_occupancy_cap_and_shrinkage_change_the_staffing(api: Api) -> None:
    query = f"queue=sales&date={TARGET}&interval=30&sl_target_pct=50&sl_seconds=60"
    _, uncapped = await get(api, query + "&max_occupancy_pct=100")
    assert by_local_start(uncapped)["09:00"]["agents"] == 11  # Erlang C alone: 51.2 %
    assert by_local_start(uncapped)["09:00"]["occupancy_pct"] == 90.9
    status, capped = await get(api, query + "&max_occupancy_pct=70&shrinkage_pct=25")
    assert status == 200, capped
    nine = by_local_start(capped)["09:00"]
    assert nine["agents_for_service_level"] == 11
    assert nine["agents"] == 15  # ceil(10 / 0.70)
    assert nine["limited_by"] == "occupancy"
    assert nine["scheduled"] == 20  # 15 / 0.75


async def test_hours_follow_the_report_zone(engine: AsyncEngine) -> None:
    await insert_rows(engine, history_rows(MONDAYS[0], "paris"))
    defaults = ForecastDefaults(zone="Europe/Paris", interval=60, weeks=2)
    async with running_api(
        forecast_history=ForecastHistory(engine), forecast_defaults=defaults
    ) as api:
        status, body = await get(api, f"queue=sales&date={TARGET}")
    assert status == 200, body
    assert body["zone"] == "Europe/Paris"
    assert body["interval_minutes"] == 60
    assert len(body["method"]["history_days"]) == 1  # the week before had no call yet
    busy = [(row["local_start"], row["volume"]) for row in body["intervals"] if row["volume"]]
    assert busy == [("2026-11-30T10:00:00+01:00", 101.0)]


async def test_a_queue_without_history_needs_nobody(api: Api) -> None:
    status, body = await get(api, f"queue=billing&date={TARGET}")
    assert status == 200, body
    assert body["method"]["history_days"] == []
    assert {row["agents"] for row in body["intervals"]} == {0}
    assert body["totals"] == {
        "volume": 0.0,
        "aht_s": 0.0,
        "agent_hours": 0.0,
        "scheduled_hours": 0.0,
        "peak_agents": 0,
    }


@pytest.mark.parametrize(
    ("query", "field", "fragment"),
    [
        (f"date={TARGET}", "queue", "required"),
        ("queue=sales", "date", "required"),
        ("queue=sales&date=2026-13-01", "date", "date"),
        ("queue=sales&date=1999-12-31", "date", "between 2000-01-01"),
        (f"queue=sales&date={TARGET}&interval=20", "interval", "15, 30, 60"),
        (f"queue=sales&date={TARGET}&interval=half", "interval", "integer"),
        (f"queue=sales&date={TARGET}&sl_target_pct=100", "sl_target_pct", "less than 100"),
        (f"queue=sales&date={TARGET}&sl_target_pct=nan", "sl_target_pct", "finite"),
        (f"queue=sales&date={TARGET}&sl_seconds=0", "sl_seconds", "greater than 0"),
        (f"queue=sales&date={TARGET}&max_occupancy_pct=101", "max_occupancy_pct", "100"),
        # A tiny cap asks for A / cap agents: 1e-320 % overflowed (a 500), 0.001 % meant a
        # million agents, each one a step of Erlang C's loop on the event loop.
        (f"queue=sales&date={TARGET}&max_occupancy_pct=1e-320", "max_occupancy_pct", "10"),
        (f"queue=sales&date={TARGET}&max_occupancy_pct=0.001", "max_occupancy_pct", "10"),
        (f"queue=sales&date={TARGET}&weeks=0", "weeks", "greater than or equal to 1"),
        (f"queue=sales&date={TARGET}&weeks=53", "weeks", "52"),
        (f"queue=sales&date={TARGET}&shrinkage_pct=-1", "shrinkage_pct", "0"),
        (f"queue=sa%0Dles&date={TARGET}", "queue", "CR, LF or NUL"),
        (f"queue=sales&queue=support&date={TARGET}", "queue", "at most once"),
        (f"queue=sales&date={TARGET}&agent=1001", "agent", "not a parameter"),
        (f"queue={'q' * 81}&date={TARGET}", "queue", "at most 80"),
    ],
)
async def test_bad_parameters_are_422_naming_the_parameter(
    api: Api, query: str, field: str, fragment: str
) -> None:
    status, body = await get(api, query)
    assert status == 422, body
    messages = {error["field"]: error["message"] for error in body["errors"]}
    assert field in messages, messages
    assert fragment in messages[field]


async def test_without_a_database_the_forecast_is_503() -> None:
    async with running_api(allow_server_errors=True) as api:
        status, body = await get(api, f"queue=sales&date={TARGET}")
    assert status == 503
    assert "database" in body["detail"]


@pytest.mark.parametrize("identity", IDENTITIES)
async def test_auth_matrix(api: Api, identity: str) -> None:
    endpoint = FORECAST_ENDPOINTS["forecast"]
    assert await call(api, endpoint, headers_for(identity)) == expected_status(endpoint, identity)


async def test_a_rising_queue_is_forecast_at_its_trend(engine: AsyncEngine) -> None:
    # 60, 80, 100 calls on the last three Mondays, nothing else: the weeks ending Tuesday
    # 11-24 hold 100, 80, 60, their middles at -9/7, -16/7, -23/7 weeks from the target:
    # W(x) = 100 + 20 (x + 9/7). The Mondays (weights 1.5, 1, 0.5) average 260/3 and are
    # centred at x_d = -5/3, so f = W(0) / W(-5/3) = (100 + 180/7) / (100 - 160/21).
    rows = []
    for k, (day, calls) in enumerate(zip(MONDAYS, (100, 80, 60), strict=True)):
        nine = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        rows += [
            cdr_row(f"r{k}.{n}", started_at=nine + timedelta(seconds=n), queue="sales")
            for n in range(calls)
        ]
    await insert_rows(engine, rows)
    async with running_api(forecast_history=ForecastHistory(engine)) as api:
        status, body = await get(api, f"queue=sales&date={TARGET}&weeks=3&interval=60")
    assert status == 200, body
    method = body["method"]
    assert [w["offered"] for w in method["history_weeks"]] == [100, 80, 60]
    factor = (100 + 180 / 7) / (100 - 160 / 21)
    assert method["level_factor"] == pytest.approx(factor, abs=1e-4)
    assert method["trend_pct_per_week"] == pytest.approx(100 * 20 / (260 / 3), abs=0.01)
    assert by_local_start(body)["09:00"]["volume"] == pytest.approx(260 / 3 * factor, abs=0.01)
