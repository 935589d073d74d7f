"""Migrations and API tokens on a real PostgreSQL cluster (scripts/pg-cluster).

The session's database is shared with other system tests, so the destructive round trip
runs in a private schema of its own (search_path), dropped afterwards."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate
from ccd.db.acd_store import AcdStore
from ccd.db.dialer_store import DialerStore
from ccd.db.engine import ping
from ccd.db.recording_store import RecordingStore
from ccd.db.tokens import TokenStore
from ccd.domain.auth import Principal, Role

HEAD = migrate.head_revisions()[0]

pytestmark = pytest.mark.postgres

CCD = Path(sys.executable).with_name("ccd")


async def test_upgrade_current_round_trip_and_tokens(private_schema_engine: AsyncEngine) -> None:
    engine = private_schema_engine
    await ping(engine)
    assert await migrate.current(engine) is None

    await migrate.upgrade(engine)
    assert await migrate.current(engine) == HEAD
    assert await migrate.is_current(engine)

    store = TokenStore(engine)
    token_id, token = await store.create(Role.AGENT, "2001", "pg desk")
    assert await store.verify(token) == Principal(token_id, Role.AGENT, "2001")

    await migrate.upgrade(engine)  # a second upgrade changes nothing
    assert await TokenStore(engine).verify(token) is not None
    store.record_use(token_id, "198.51.100.7")  # what the API does; written by flush
    assert await store.flush() == 1
    [info] = await store.list()
    assert info.last_used_at is not None
    assert info.last_used_at.tzinfo is not None
    assert info.last_used_from == "198.51.100.7"

    assert await store.revoke(token_id)
    assert await store.verify(token) is None

    await migrate.downgrade(engine, "base")
    assert await migrate.current(engine) is None
    await migrate.upgrade(engine)
    assert await migrate.current(engine) == HEAD
    assert await store.list() == []


def test_cli_upgrades_the_configured_postgres_database(postgres_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CCD_")}
    env["CCD_DATABASE__URL"] = postgres_url

    def ccd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CCD), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    upgraded = ccd("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    current = ccd("db", "current")
    assert current.returncode == 0, current.stderr
    assert current.stdout.endswith("(head)\n")

    created = ccd("token", "create", "--role", "integrator", "--label", "crm")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    listed = ccd("token", "list")
    assert token.split("_")[1] in listed.stdout
    assert token not in listed.stdout


async def test_campaign_server_round_trip(private_schema_engine: AsyncEngine) -> None:
    """0016_campaign_server on PostgreSQL: a campaign stored before it dials through the
    default server (NULL), a server is written and read back, and the column goes and
    comes back with a downgrade and an upgrade."""
    engine = private_schema_engine
    before = "0015_agent_server"
    await migrate.upgrade(engine, before)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO dialer_campaigns (id, name, mode, caller_id, agent_ids, windows,"
                " holidays, ring_timeout_s, retries, abandon_cap_pct, cap_override, amd,"
                " dispositions, default_region, state, created_at, updated_at) VALUES"
                " ('spring', 'Spring', 'progressive', '+15550100', '[\"1001\"]', '[]', '[]',"
                " 25.0, '{}', 3.0, false, 'off', '[\"do-not-call\"]', 'US', 'draft', :at, :at)"
            ),
            {"at": at},
        )
    await migrate.upgrade(engine)
    store = DialerStore(engine)
    old = await store.get_campaign("spring")
    assert old is not None
    assert old.campaign.server is None
    await store.put_campaign(dataclasses.replace(old.campaign, server="west"))
    moved = await store.get_campaign("spring")
    assert moved is not None
    assert moved.campaign.server == "west"

    await migrate.downgrade(engine, before)
    assert await migrate.current(engine) == before
    async with engine.connect() as connection:
        columns = await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("dialer_campaigns")}
        )
    assert "server" not in columns
    await migrate.upgrade(engine)
    again = await store.get_campaign("spring")
    assert again is not None
    assert again.campaign.server is None  # the column came back empty


async def test_agent_server_round_trip(private_schema_engine: AsyncEngine) -> None:
    """0015_agent_server on PostgreSQL: an agent stored before it is on the default server
    (NULL), a server is written and read back, and the column goes and comes back with a
    downgrade and an upgrade."""
    engine = private_schema_engine
    before = "0014_cdr_server"
    await migrate.upgrade(engine, before)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO acd_agents (id, name, interface, skills, max_calls, created_at,"
                " updated_at) VALUES ('1001', 'Ada', 'PJSIP/1001', '{}', 1, :at, :at)"
            ),
            {"at": datetime(2026, 12, 1, tzinfo=UTC)},
        )
    await migrate.upgrade(engine, "0015_agent_server")
    store = AcdStore(engine)
    old = await store.get_agent("1001")
    assert old is not None
    assert old.agent.server is None
    await store.upsert_agent(dataclasses.replace(old.agent, server="west"))
    moved = await store.get_agent("1001")
    assert moved is not None
    assert moved.agent.server == "west"

    await migrate.upgrade(engine)
    assert (await store.load()).agents["1001"].server == "west"
    await migrate.downgrade(engine, before)
    assert await migrate.current(engine) == before
    async with engine.connect() as connection:
        columns = await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("acd_agents")}
        )
    assert "server" not in columns
    await migrate.upgrade(engine)
    again = await store.get_agent("1001")
    assert again is not None
    assert again.agent.server is None  # the column came back empty


async def test_recording_server_round_trip(private_schema_engine: AsyncEngine) -> None:
    """0017_recording_server on PostgreSQL: a recording stored before it is the default
    server's (NULL), a server is written and read back, and the column goes and comes
    back with a downgrade and an upgrade."""
    engine = private_schema_engine
    before = "0016_campaign_server"
    await migrate.upgrade(engine, before)
    old_id = "rec-" + "0" * 32
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO recordings (id, linkedid, channel, file, started_at, pauses)"
                " VALUES (:id, '1765000000.1', 'PJSIP/trunk-00000001', :file, :at, '[]')"
            ),
            {"id": old_id, "file": old_id + ".wav", "at": datetime(2026, 12, 1, tzinfo=UTC)},
        )
    await migrate.upgrade(engine)
    store = RecordingStore(engine)
    old = await store.get(old_id)
    assert old is not None
    assert old.server is None
    await store.add(dataclasses.replace(old, id="rec-" + "1" * 32, server="west"))
    west = await store.get("rec-" + "1" * 32)
    assert west is not None
    assert west.server == "west"

    await migrate.downgrade(engine, before)
    assert await migrate.current(engine) == before
    async with engine.connect() as connection:
        columns = await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("recordings")}
        )
    assert "server" not in columns
    await migrate.upgrade(engine)
    again = await store.get("rec-" + "1" * 32)
    assert again is not None
    assert again.server is None  # the column came back empty
