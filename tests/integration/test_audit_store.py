"""The audit trail stores what happened and reads it back newest first, filtered."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.audit_store import AuditStore
from ccd.domain.audit import AuditEntry
from ccd.domain.auth import Principal, Role
from tests.clock import FakeClock

SUPERVISOR = Principal("t-sup", Role.SUPERVISOR, None)
AGENT = Principal("t-agent", Role.AGENT, "1001")


async def test_records_read_back_newest_first_and_filtered(engine: AsyncEngine) -> None:
    clock = FakeClock()
    store = AuditStore(engine, clock)
    first = await store.record(
        AuditEntry(SUPERVISOR, "recording.played", "recording", "r1", {"range": "bytes=0-"})
    )
    clock.advance(5)
    await store.record(AuditEntry(AGENT, "recording.played", "recording", "r2"))
    clock.advance(5)
    await store.record(AuditEntry(SUPERVISOR, "monitor.started", "call", "c1", {"mode": "listen"}))

    everything = await store.search()
    assert [r.target_id for r in everything] == ["c1", "r2", "r1"]
    assert everything[1].actor_agent_id == "1001"
    assert everything[2] == first
    assert first.detail == {"range": "bytes=0-"}
    assert first.actor_role == "supervisor"

    played = await store.search(action="recording.played")
    assert [r.target_id for r in played] == ["r2", "r1"]
    assert [r.id for r in await store.search(target_kind="call", target_id="c1")] == [
        everything[0].id
    ]
    since = first.at + timedelta(seconds=1)
    assert [r.target_id for r in await store.search(since=since, limit=1)] == ["c1"]
    assert [r.target_id for r in await store.search(until=since)] == ["r1"]
