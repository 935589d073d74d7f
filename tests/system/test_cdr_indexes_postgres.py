"""Number searches over stored CDRs use indexes on a real PostgreSQL (migration 0004): a
prefix (``number=0612*``) and a DID are looked up, not scanned, in a call log of 20,000."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.cdr.queries import CdrFilter, CdrSort
from ccd.db import migrate
from ccd.db.cdr_queries import CDRS, page_statement

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
CALLS = 20_000


def _row(n: int) -> dict[str, Any]:
    started = T0 + timedelta(seconds=n)
    return {
        "linkedid": f"1764000000.{n}",
        "direction": "inbound",
        "caller_num": f"+3361{n:07d}",
        "caller_name": "",
        "callee_num": f"{1000 + n % 50}",
        "did": f"+3319{n % 400:07d}",
        "started_at": started,
        "answered_at": None,
        "ended_at": started + timedelta(seconds=30),
        "ring_s": 30.0,
        "talk_s": 0.0,
        "hold_s": 0.0,
        "hangup_cause": 16,
        "hangup_cause_text": "Normal Clearing",
        "hung_up_by": "caller",
        "disposition": "abandoned",
        "ivr_path": [],
        "queue": "sales",
        "wait_s": 30.0,
        "agent_id": None,
        "wrapup_s": None,
        "campaign_id": None,
        "contact_id": None,
        "recording_ref": None,
        "written_at": started + timedelta(seconds=31),
    }


async def _plan(engine: AsyncEngine, filters: CdrFilter) -> str:
    statement = page_statement(filters, sort=CdrSort.NEWEST_FIRST, after=None, limit=50)
    # The driver's own dialect: no pyformat escaping of LIKE's "%" in the literal SQL.
    sql = statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}")
        plan = result.scalar_one()
    return json.dumps(plan)


async def test_number_prefix_and_did_searches_use_indexes(
    private_schema_engine: AsyncEngine,
) -> None:
    engine = private_schema_engine
    await migrate.upgrade(engine)
    async with engine.begin() as connection:
        for start in range(0, CALLS, 5_000):
            rows = [_row(n) for n in range(start, start + 5_000)]
            await connection.execute(insert(CDRS), rows)
        await connection.execute(text("ANALYZE cdrs"))

    prefix = await _plan(engine, CdrFilter(number="+3361000123", number_is_prefix=True))
    assert "Seq Scan" not in prefix, prefix
    # The OR over caller, callee and DID: each side through its own prefix index.
    for column in ("caller_num", "callee_num", "did"):
        assert f"ix_cdrs_{column}_prefix" in prefix, prefix

    did = await _plan(engine, CdrFilter(number="+33190000399"))
    assert "Seq Scan" not in did, did
    assert "ix_cdrs_did" in did, did
