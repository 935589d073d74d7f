"""The ACD store and migration 0003 on a real PostgreSQL cluster (scripts/pg-cluster), in a
private schema of the session database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.acd.seed import load_seed
from ccd.db import migrate
from ccd.db.acd_store import AcdConflict, AcdStore, SessionEntry, WriteCounts

pytestmark = pytest.mark.postgres

SAMPLE_SEED = Path(__file__).resolve().parents[2] / "config" / "acd-seed.toml"
ACD_TABLES = {
    "acd_agents",
    "acd_queues",
    "acd_pause_reasons",
    "acd_memberships",
    "acd_agent_sessions",
}
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


async def table_names(engine: AsyncEngine) -> set[str]:
    def names(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with engine.connect() as connection:
        return await connection.run_sync(names)


async def test_acd_store_and_migration_0003(private_schema_engine: AsyncEngine) -> None:
    engine = private_schema_engine
    await migrate.upgrade(engine)
    assert await table_names(engine) >= ACD_TABLES

    store = AcdStore(engine)
    config = load_seed(SAMPLE_SEED)
    result = await store.apply_seed(config)
    assert result.agents == WriteCounts(created=3)
    assert (await store.apply_seed(config)).agents == WriteCounts(updated=3)
    loaded = await store.load()
    assert loaded == config  # JSON skills, booleans, nullable floats all survive

    with pytest.raises(AcdConflict, match="queue 'support' \\(overflow_target\\)"):
        await store.delete_queue("sales")
    # Memberships go with the queue (ON DELETE CASCADE and the store's own delete).
    assert await store.delete_queue("support")
    assert await store.memberships("1003") == frozenset()

    # BIGSERIAL ids, timestamptz round trip, newest row per agent by time.
    await store.append_sessions(
        [
            SessionEntry("1001", "available", None, None, ("sales",), T0),
            SessionEntry("1002", "available", None, None, ("sales",), T0),
            SessionEntry("1001", "on_call", None, "1700.5", ("sales",), T0 + timedelta(minutes=2)),
            SessionEntry(
                "1002", "paused", "no-answer", None, ("sales",), T0 + timedelta(minutes=1)
            ),
        ]
    )
    await store.append_sessions(
        [SessionEntry("1001", "wrap_up", None, "1700.5", ("sales",), T0 + timedelta(minutes=6))]
    )
    latest = await store.latest_sessions()
    assert {agent: entry.status for agent, entry in latest.items()} == {
        "1001": "wrap_up",
        "1002": "paused",
    }
    assert latest["1002"].reason == "no-answer"
    assert latest["1001"].at == T0 + timedelta(minutes=6)
    window = await store.sessions("1001", since=T0 + timedelta(minutes=1), limit=10)
    assert [entry.status for entry in window] == ["on_call", "wrap_up"]

    await migrate.downgrade(engine, "0002")
    assert await migrate.current(engine) == "0002"
    remaining = await table_names(engine)
    assert not ACD_TABLES & remaining
    assert "cdrs" in remaining

    await migrate.upgrade(engine)
    assert await migrate.current(engine) == migrate.head_revisions()[0]
    assert await store.ids() == (frozenset(), frozenset(), frozenset())
