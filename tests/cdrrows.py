"""CDR and leg rows written straight into the CDR tables, for the query tests (the API's
over SQLite, and the same queries on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.cdr_queries import CDRS, LEGS

T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)


def cdr_row(linkedid: str, **overrides: Any) -> dict[str, Any]:
    started = overrides.pop("started_at", T0)
    row: dict[str, Any] = {
        "linkedid": linkedid,
        "direction": "inbound",
        "caller_num": "2120000",
        "caller_name": "Caller",
        "callee_num": "100",
        "did": "18005550100",
        "started_at": started,
        "answered_at": started + timedelta(seconds=5),
        "ended_at": started + timedelta(seconds=65),
        "ring_s": 5.0,
        "talk_s": 60.0,
        "hold_s": 0.0,
        "hangup_cause": 16,
        "hangup_cause_text": "Normal Clearing",
        "hung_up_by": "caller",
        "disposition": "answered",
        "ivr_path": [],
        "queue": None,
        "wait_s": None,
        "agent_id": None,
        "wrapup_s": None,
        "campaign_id": None,
        "contact_id": None,
        "recording_ref": None,
        "written_at": started + timedelta(seconds=66),
        "server": "default",
    }
    unknown = set(overrides) - set(row)
    assert not unknown, unknown
    row.update(overrides)
    return row


def leg_row(uniqueid: str, linkedid: str, started_at: datetime, channel: str) -> dict[str, Any]:
    return {
        "uniqueid": uniqueid,
        "linkedid": linkedid,
        "channel": channel,
        "started_at": started_at,
        "answered_at": None,
        "ended_at": started_at + timedelta(seconds=30),
        "caller_num": "5550000",
        "caller_name": "Caller",
        "connected_num": "100",
        "context": "ccd-inbound",
        "exten": "100",
        "hangup_cause": 16,
        "hangup_cause_text": "Normal Clearing",
        "dial_status": "",
    }


async def insert_rows(
    engine: AsyncEngine, rows: list[dict[str, Any]], legs: Sequence[dict[str, Any]] = ()
) -> None:
    async with engine.begin() as connection:
        if rows:
            await connection.execute(insert(CDRS), rows)
        if legs:
            await connection.execute(insert(LEGS), list(legs))
