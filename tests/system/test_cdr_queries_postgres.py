"""The CDR API's list, get and CSV export against real PostgreSQL (scripts/pg-cluster).

The session database is shared with other system tests, so this module migrates a
private schema of its own (search_path) and drops it afterwards."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate
from ccd.db.cdr_queries import CdrQueries
from tests.cdrrows import T0, cdr_row, insert_rows, leg_row
from tests.integration.apifakes import Api, running_api

pytestmark = pytest.mark.postgres


@pytest.fixture
async def engine(private_schema_engine: AsyncEngine) -> AsyncEngine:
    await migrate.upgrade(private_schema_engine)
    return private_schema_engine


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[Api]:
    async with running_api(cdrs=CdrQueries(engine)) as api:
        yield api


async def get_json(api: Api, path: str, role: str = "admin") -> Any:
    response = await api.client.get(path, headers=api.auth(role))
    assert response.status == 200, await response.text()
    return await response.json()


async def walk(api: Api, query: str) -> list[str]:
    seen: list[str] = []
    body = await get_json(api, f"/api/v1/cdrs?{query}")
    for _ in range(1000):  # a cursor that repeats a page must fail the test, not spin
        page = [cdr["id"] for cdr in body["cdrs"]]
        assert not set(page) & set(seen), "a page repeated rows"
        seen.extend(page)
        if body["next_cursor"] is None:
            return seen
        body = await get_json(api, f"/api/v1/cdrs?{query}&cursor={quote(body['next_cursor'])}")
    raise AssertionError("pagination never ended")


async def test_pages_sort_and_csv_on_postgres(api: Api, engine: AsyncEngine) -> None:
    # Ties down to the microsecond: a cursor rounded to milliseconds would skip or repeat.
    rows = [
        cdr_row(
            f"{n % 13:02d}.{n:04d}",
            started_at=T0 + timedelta(microseconds=n // 4),
            queue="odd" if n % 2 else "even",
            agent_id="1001" if n % 10 == 0 else "2002",
        )
        for n in range(301)
    ]
    await insert_rows(engine, rows)
    keys = sorted((r["started_at"], r["linkedid"]) for r in rows)
    for sort, ordered in (("started_at", keys), ("-started_at", keys[::-1])):
        assert await walk(api, f"limit=40&sort={sort}") == [lid for _, lid in ordered]
    odd = [lid for at, lid in keys if int(lid.split(".")[1]) % 2]
    assert await walk(api, "limit=33&queue=odd&sort=started_at") == odd

    response = await api.client.get("/api/v1/cdrs.csv?sort=started_at", headers=api.auth("admin"))
    assert response.status == 200
    exported = list(csv.DictReader(io.StringIO(await response.text(), newline="")))
    assert [r["linkedid"] for r in exported] == [lid for _, lid in keys]

    agent = await get_json(api, "/api/v1/cdrs?limit=1000", role="agent")
    assert len(agent["cdrs"]) == 31
    assert {c["agent_id"] for c in agent["cdrs"]} == {"1001"}


async def test_filters_and_get_on_postgres(api: Api, engine: AsyncEngine) -> None:
    await insert_rows(
        engine,
        [
            cdr_row("p1", caller_num="5551001", agent_id="1001", campaign_id="spring"),
            cdr_row(
                "p2",
                started_at=T0 + timedelta(minutes=1),
                direction="outbound",
                callee_num="55_9",
                disposition="busy",
                caller_name='=cmd, "x"',
                ivr_path=[{"node": "menu", "digits": "2"}],
            ),
            cdr_row("p3", started_at=T0 + timedelta(minutes=2), did="5559", queue="sales"),
        ],
        [
            leg_row("p1.b", "p1", T0 + timedelta(seconds=1), "PJSIP/1001-02"),
            leg_row("p1.a", "p1", T0, "PJSIP/trunk-01"),
        ],
    )

    async def ids(query: str) -> list[str]:
        return [c["id"] for c in (await get_json(api, f"/api/v1/cdrs?{query}"))["cdrs"]]

    assert await ids("number=555*") == ["p3", "p1"]
    assert await ids("number=55_*") == ["p2"]  # "_" is literal, not a LIKE wildcard
    assert await ids("number=5559") == ["p3"]
    assert await ids("direction=outbound&disposition=busy") == ["p2"]
    assert await ids("queue=sales") == ["p3"]
    assert await ids("agent=1001&campaign=spring") == ["p1"]
    assert await ids("from=2026-11-20T08:01:00Z&to=2026-11-20T08:02:00Z") == ["p2"]

    detail = await get_json(api, "/api/v1/cdrs/p1")
    assert detail["started_at"] == "2026-11-20T08:00:00.000Z"
    assert [leg["uniqueid"] for leg in detail["legs"]] == ["p1.a", "p1.b"]
    p2 = await get_json(api, "/api/v1/cdrs/p2")
    assert p2["ivr_path"] == [{"node": "menu", "digits": "2"}]
    assert p2["answered_at"] == "2026-11-20T08:01:05.000Z"
    missing = await api.client.get("/api/v1/cdrs/none", headers=api.auth("admin"))
    assert missing.status == 404

    response = await api.client.get(
        "/api/v1/cdrs.csv?direction=outbound", headers=api.auth("admin")
    )
    (row,) = csv.DictReader(io.StringIO(await response.text(), newline=""))
    assert row["caller_name"] == '\'=cmd, "x"'
    assert row["ivr_path"] == '[{"node":"menu","digits":"2"}]'
