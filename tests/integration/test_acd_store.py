"""AcdStore against a real SQLite database migrated with Alembic."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.acd.model import Agent, PauseReason, Queue, Strategy
from ccd.acd.seed import load_seed
from ccd.db.acd_store import (
    AcdConflict,
    AcdInvalidReference,
    AcdNotFound,
    AcdStore,
    AcdStoreUnavailable,
    SessionEntry,
    WriteCounts,
    WriteMode,
)
from ccd.db.engine import create_engine
from tests.integration.apifakes import FixedClock
from tests.integration.sqlitedb import SAMPLE_SEED

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def store(engine: AsyncEngine, clock: FixedClock) -> AcdStore:
    return AcdStore(engine, clock=clock)


SALES = Queue(id="sales", name="Sales", max_wait_s=120.0, overflow_target="voicemail:1000")
SUPPORT = Queue(
    id="support",
    strategy=Strategy.SKILLS_BASED,
    required_skills={"support": 3},
    escalate_after_s=30.0,
    escalated_skills={"support": 1},
    overflow_target="queue:sales",
    callback_key="#",
    announce_position=True,
)
ALICE = Agent(id="1001", interface="Local/1001@ccd-agents", skills={"support": 5}, name="Alice")


async def test_queue_round_trip_keeps_every_field(store: AcdStore, clock: FixedClock) -> None:
    await store.upsert_queue(SALES, mode=WriteMode.CREATE)
    stored = await store.upsert_queue(SUPPORT, mode=WriteMode.CREATE)
    assert stored.queue == SUPPORT
    assert stored.created_at == stored.updated_at == T0

    clock.current = T0 + timedelta(minutes=5)
    changed = replace(SUPPORT, ring_timeout_s=20.0, max_len=12)
    updated = await store.upsert_queue(changed, mode=WriteMode.UPDATE)
    assert updated.queue == changed
    assert updated.created_at == T0
    assert updated.updated_at == T0 + timedelta(minutes=5)
    assert [q.queue.id for q in await store.list_queues()] == ["sales", "support"]


async def test_agent_server_round_trips_and_defaults_to_none(store: AcdStore) -> None:
    created = await store.upsert_agent(ALICE, mode=WriteMode.CREATE)
    assert created.agent.server is None  # the default (first configured) server

    on_lyon = replace(ALICE, server="lyon")
    updated = await store.upsert_agent(on_lyon, mode=WriteMode.UPDATE)
    assert updated.agent == on_lyon
    assert (await store.load()).agents["1001"].server == "lyon"

    back = await store.upsert_agent(ALICE, mode=WriteMode.UPDATE)
    assert back.agent.server is None


async def test_write_modes_refuse_duplicates_and_unknown_ids(store: AcdStore) -> None:
    await store.upsert_queue(SALES, mode=WriteMode.CREATE)
    with pytest.raises(AcdConflict, match="already exists"):
        await store.upsert_queue(SALES, mode=WriteMode.CREATE)
    with pytest.raises(AcdNotFound, match="no agent '1001'"):
        await store.upsert_agent(ALICE, mode=WriteMode.UPDATE)
    with pytest.raises(AcdNotFound):
        await store.set_memberships("9999", ["sales"])
    assert await store.get_agent("1001") is None


async def test_queue_targets_must_name_existing_queues(store: AcdStore) -> None:
    with pytest.raises(AcdInvalidReference) as refused:
        await store.upsert_queue(SUPPORT)
    assert refused.value.problems == (("overflow_target", "unknown queue 'sales'"),)
    assert await store.list_queues() == []


async def test_agent_with_memberships_and_cascade_on_queue_delete(store: AcdStore) -> None:
    await store.upsert_queue(SALES)
    await store.upsert_queue(SUPPORT)
    with pytest.raises(AcdInvalidReference) as refused:
        await store.upsert_agent(ALICE, queues=["sales", "nope"])
    assert refused.value.problems == (("queues.1", "unknown queue 'nope'"),)
    assert await store.get_agent("1001") is None  # nothing half-written

    stored = await store.upsert_agent(ALICE, queues=["sales", "support"], mode=WriteMode.CREATE)
    assert stored.agent == ALICE
    assert stored.queues == {"sales", "support"}

    # Omitted queues leave memberships alone; an explicit list replaces them.
    renamed = Agent(id="1001", interface="PJSIP/1001", skills={"support": 2}, name="A.")
    assert (await store.upsert_agent(renamed)).queues == {"sales", "support"}
    await store.set_memberships("1001", ["support"])
    assert await store.memberships("1001") == {"support"}

    # sales is the overflow of support: refused, naming who refers to it.
    with pytest.raises(AcdConflict, match=r"queue 'support' \(overflow_target\)"):
        await store.delete_queue("sales")
    assert await store.delete_queue("support")
    assert await store.memberships("1001") == frozenset()
    assert not await store.delete_queue("support")


async def test_pause_reasons_and_the_required_no_answer(store: AcdStore) -> None:
    lunch = PauseReason("lunch", "Lunch", billable=False, time_limit_s=3600.0)
    await store.upsert_pause_reason(lunch, mode=WriteMode.CREATE)
    await store.upsert_pause_reason(PauseReason("no-answer", "Missed"))
    assert await store.get_pause_reason("lunch") == lunch
    assert [r.code for r in await store.list_pause_reasons()] == ["lunch", "no-answer"]
    with pytest.raises(AcdConflict, match="cannot be deleted"):
        await store.delete_pause_reason("no-answer")
    assert await store.delete_pause_reason("lunch")
    assert not await store.delete_pause_reason("lunch")


async def test_delete_agent_keeps_its_session_log(store: AcdStore) -> None:
    await store.upsert_queue(SALES)
    await store.upsert_agent(ALICE, queues=["sales"])
    await store.append_sessions([SessionEntry("1001", "available", None, None, ("sales",), T0)])
    assert await store.delete_agent("1001")
    assert not await store.delete_agent("1001")
    assert len(await store.sessions("1001")) == 1
    assert (await store.load()).agents == {}


async def test_session_log_latest_per_agent_and_time_window(store: AcdStore) -> None:
    def entry(agent: str, minutes: int, status: str, **extra: object) -> SessionEntry:
        return SessionEntry(
            agent_id=agent,
            status=status,
            reason=extra.get("reason"),  # type: ignore[arg-type]
            call_id=extra.get("call_id"),  # type: ignore[arg-type]
            queue_ids=("sales",),
            at=T0 + timedelta(minutes=minutes),
        )

    await store.append_sessions(
        [
            entry("1001", 0, "available"),
            entry("1002", 0, "available"),
            entry("1001", 5, "on_call", call_id="1700.1"),
            entry("1001", 9, "paused", reason="lunch"),
        ]
    )
    # Appended later but earlier in time: not the latest.
    await store.append_sessions([entry("1002", 7, "wrap_up"), entry("1002", 3, "on_call")])
    await store.append_sessions([])

    latest = await store.latest_sessions()
    assert latest["1001"].status == "paused"
    assert latest["1001"].reason == "lunch"
    assert latest["1001"].at == T0 + timedelta(minutes=9)
    assert latest["1002"].status == "wrap_up"
    assert set(latest) == {"1001", "1002"}

    window = await store.sessions(
        "1001", since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=9)
    )
    assert [(s.status, s.call_id) for s in window] == [("on_call", "1700.1")]
    assert [s.status for s in await store.sessions("1002", limit=2)] == ["available", "on_call"]
    assert (await store.sessions("1001"))[0].queue_ids == ("sales",)


def test_session_entry_needs_an_aware_time() -> None:
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 -- naive on purpose: the entry must refuse it
    with pytest.raises(ValueError, match="timezone-aware"):
        SessionEntry("1001", "available", None, None, (), naive)


async def test_seed_is_one_transaction_and_idempotent(store: AcdStore) -> None:
    config = load_seed(SAMPLE_SEED)
    seen: list[tuple[str, int, int]] = []
    result = await store.apply_seed(config, lambda *step: seen.append(step))
    assert result.pause_reasons == WriteCounts(created=3)
    assert result.queues == WriteCounts(created=2)
    assert result.agents == WriteCounts(created=3)
    assert seen[-1] == ("agents", 3, 3)
    assert ("pause reasons", 3, 3) in seen

    loaded = await store.load()
    assert loaded.queues == config.queues
    assert loaded.agents == config.agents
    assert loaded.pause_reasons == config.pause_reasons
    assert loaded.memberships == config.memberships

    again = await store.apply_seed(config)
    assert again.agents == WriteCounts(updated=3)
    assert await store.load() == loaded


async def test_failed_seed_writes_nothing(store: AcdStore) -> None:
    config = load_seed(SAMPLE_SEED)
    # A membership to a queue that is not there fails the last step: all is rolled back.
    broken = type(config)(
        agents=config.agents,
        queues=config.queues,
        pause_reasons=config.pause_reasons,
        memberships={**config.memberships, "1003": frozenset({"ghost"})},
    )
    with pytest.raises(AcdInvalidReference):
        await store.apply_seed(broken)
    assert await store.ids() == (frozenset(), frozenset(), frozenset())


async def test_database_failure_is_a_clear_error(tmp_path: Path) -> None:
    # A database that was never migrated: the driver says which table is missing.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        with pytest.raises(AcdStoreUnavailable, match="no such table: acd_agents"):
            await AcdStore(engine).list_agents()
    finally:
        await engine.dispose()
