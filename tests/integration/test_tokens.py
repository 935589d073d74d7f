"""API tokens and migrations against a real SQLite database file (tmp dir)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate
from ccd.db.engine import create_engine, ping
from ccd.db.tokens import InvalidTokenRequest, TokenStore, UnknownToken
from ccd.domain.auth import Principal, Role
from ccd.errors import DatabaseError, UsageError
from tests.clock import FakeClock

HEAD = migrate.head_revisions()[0]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'ccd.sqlite3'}"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate.upgrade(db_url)
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


async def test_created_token_verifies_as_its_principal(engine: AsyncEngine) -> None:
    store = TokenStore(engine)
    token_id, token = await store.create(Role.AGENT, "1001", "desk 3")
    assert token.startswith(f"ccd_{token_id}_")
    assert await store.verify(token) == Principal(
        token_id=token_id, role=Role.AGENT, agent_id="1001"
    )
    admin_id, admin_token = await store.create("admin", label="ops laptop")
    assert await store.verify(admin_token) == Principal(admin_id, Role.ADMIN, None)


async def test_only_a_hash_of_the_secret_is_stored(engine: AsyncEngine) -> None:
    store = TokenStore(engine)
    _, token = await store.create(Role.INTEGRATOR, label="crm")
    secret = token.split("_", 2)[2]
    async with engine.connect() as connection:
        row = (await connection.execute(text("SELECT * FROM api_tokens"))).mappings().one()
    stored = " ".join(str(value) for value in row.values())
    assert secret not in stored
    assert len(row["token_hash"]) == 64


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret, right id
        lambda t: t.replace("ccd_", "ccx_", 1),
        lambda t: t + "x",
        lambda t: "",
        lambda t: "ccd_000000000000_" + "A" * 43,  # well-formed, unknown id
        lambda t: t + "\r\n",
    ],
)
async def test_wrong_tokens_are_rejected(engine: AsyncEngine, mangle: Callable[[str], str]) -> None:
    store = TokenStore(engine)
    _, token = await store.create(Role.SUPERVISOR)
    assert await store.verify(mangle(token)) is None


async def test_revoked_token_is_rejected_at_once_by_the_revoking_store(
    engine: AsyncEngine,
) -> None:
    store = TokenStore(engine, cache_ttl_s=3600)
    token_id, token = await store.create(Role.ADMIN)
    assert await store.verify(token) is not None  # now cached
    assert await store.revoke(token_id) is True
    assert await store.verify(token) is None


async def test_other_processes_see_a_revocation_within_the_cache_ttl(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock()
    api_side = TokenStore(engine, clock=clock, cache_ttl_s=5)
    cli_side = TokenStore(engine)
    token_id, token = await cli_side.create(Role.ADMIN)
    assert await api_side.verify(token) is not None
    await cli_side.revoke(token_id)
    clock.advance(4)
    assert await api_side.verify(token) is not None  # still cached: the documented window
    clock.advance(2)
    assert await api_side.verify(token) is None


async def test_revoke_twice_and_unknown_id(engine: AsyncEngine) -> None:
    store = TokenStore(engine)
    token_id, _ = await store.create(Role.ADMIN)
    assert await store.revoke(token_id) is True
    assert await store.revoke(token_id) is False
    with pytest.raises(UnknownToken, match="no token with id 'nope'"):
        await store.revoke("nope")


async def test_list_shows_every_token_with_status_and_last_use(engine: AsyncEngine) -> None:
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    store = TokenStore(engine, clock=clock)
    first_id, first = await store.create(Role.AGENT, "1001", "desk 3")
    clock.advance(60)
    second_id, _ = await store.create(Role.INTEGRATOR, label="crm")
    clock.advance(60)
    principal = await store.verify(first)
    assert principal is not None
    store.record_use(principal.token_id, "192.0.2.7")
    assert await store.flush() == 1
    await store.revoke(second_id)

    listed = await store.list()
    assert [info.token_id for info in listed] == [first_id, second_id]
    assert listed[0].role is Role.AGENT
    assert listed[0].agent_id == "1001"
    assert listed[0].label == "desk 3"
    assert listed[0].created_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert listed[0].last_used_at == clock.now()
    assert listed[0].last_used_from == "192.0.2.7"
    assert listed[0].active
    assert listed[1].revoked_at == clock.now()
    assert not listed[1].active
    assert listed[1].last_used_at is None


@pytest.mark.parametrize(
    ("role", "agent_id", "label", "reason"),
    [
        (Role.AGENT, None, "", "an agent token needs --agent"),
        (Role.ADMIN, "1001", "", "--agent is only for agent tokens"),
        ("root", None, "", "unknown role 'root'"),
        (Role.AGENT, "10\r\n01", "", "invalid agent id"),
        (Role.ADMIN, None, "a\nb", "label"),
    ],
)
async def test_invalid_token_requests_store_nothing(
    engine: AsyncEngine, role: Role | str, agent_id: str | None, label: str, reason: str
) -> None:
    store = TokenStore(engine)
    with pytest.raises(InvalidTokenRequest, match=reason):
        await store.create(role, agent_id, label)
    assert await store.list() == []


async def test_ping_succeeds_on_a_live_database_and_fails_on_a_dead_one(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await ping(engine)
    # A directory cannot be opened as a database file.
    dead = create_engine(f"sqlite+aiosqlite:///{tmp_path}")
    try:
        with pytest.raises(Exception, match="unable to open database file"):
            await ping(dead)
    finally:
        await dead.dispose()


async def test_sqlite_runs_in_wal_mode(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
    assert mode == "wal"


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_a_no_op_and_keeps_data(db_url: str) -> None:
    assert await migrate.current(db_url) is None
    assert not await migrate.is_current(db_url)
    await migrate.upgrade(db_url)
    engine = create_engine(db_url)
    try:
        _, token = await TokenStore(engine).create(Role.ADMIN)
        await migrate.upgrade(db_url)
        assert await migrate.current(db_url) == HEAD
        assert await migrate.is_current(db_url)
        assert await TokenStore(engine).verify(token) is not None
    finally:
        await engine.dispose()


async def test_downgrade_then_upgrade_round_trip(db_url: str) -> None:
    await migrate.upgrade(db_url)
    assert "api_tokens" in await _tables(db_url)
    await migrate.downgrade(db_url, "base")
    assert await migrate.current(db_url) is None
    assert "api_tokens" not in await _tables(db_url)
    await migrate.upgrade(db_url)
    assert await migrate.current(db_url) == HEAD
    assert "api_tokens" in await _tables(db_url)


async def test_unknown_revision_is_a_usage_error(db_url: str) -> None:
    with pytest.raises(UsageError, match="Can't locate revision identified by '0099'"):
        await migrate.upgrade(db_url, "0099")


async def test_unreachable_database_is_one_clear_error() -> None:
    url = "postgresql+asyncpg://ccd:hunter2@127.0.0.1:1/ccd"
    with pytest.raises(DatabaseError) as caught:
        await migrate.upgrade(url)
    message = str(caught.value)
    assert message.startswith("database postgresql+asyncpg://ccd:***@127.0.0.1:1/ccd: ")
    assert "hunter2" not in message
    assert "\n" not in message
