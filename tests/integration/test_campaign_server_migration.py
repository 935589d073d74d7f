"""Migration 0016_campaign_server on SQLite: the column matches the model, campaigns
written before it read as dialing through the default server (None), a server is stored
and read back, and it downgrades away."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ccd.db import migrate
from ccd.db.dialer_store import DialerStore, WriteMode
from ccd.db.engine import create_engine
from ccd.db.models import metadata
from tests.clock import FakeClock

BEFORE = "0015_agent_server"

# A campaign row as a ccd before 0016 wrote it.
OLD_CAMPAIGN = text(
    "INSERT INTO dialer_campaigns (id, name, mode, caller_id, agent_ids, queue_id, windows,"
    " holidays, ring_timeout_s, retries, abandon_cap_pct, cap_override, amd,"
    " safe_harbor_prompt, machine_message_prompt, dispositions, default_region, state,"
    " created_at, updated_at) VALUES ('spring', 'Spring', 'progressive', '+15550100',"
    " '[\"1001\"]', NULL, '[]', '[]', 25.0, '{}', 3.0, 0, 'off', NULL, NULL,"
    " '[\"do-not-call\"]', 'US', 'draft', :at, :at)"
)


async def test_campaign_server_column_matches_the_model_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ccd.sqlite3'}"
    await migrate.upgrade(url, BEFORE)
    engine = create_engine(url)
    at = datetime(2026, 12, 1, tzinfo=UTC)

    def differences(connection: Connection) -> list[object]:
        found = compare_metadata(MigrationContext.configure(connection), metadata)
        return [d for d in found if "dialer_campaigns" in repr(d)]

    def campaign_columns(connection: Connection) -> set[str]:
        return {c["name"] for c in connection.dialect.get_columns(connection, "dialer_campaigns")}

    try:
        async with engine.begin() as connection:
            await connection.execute(OLD_CAMPAIGN, {"at": at})
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
        store = DialerStore(engine, clock=FakeClock(at))
        old = await store.get_campaign("spring")
        assert old is not None
        assert old.campaign.server is None  # the default server, as before

        moved = dataclasses.replace(old.campaign, server="west")
        await store.put_campaign(moved, mode=WriteMode.UPDATE)
        again = await store.get_campaign("spring")
        assert again is not None
        assert again.campaign.server == "west"

        await migrate.downgrade(engine, BEFORE)
        async with engine.connect() as connection:
            assert "server" not in await connection.run_sync(campaign_columns)
    finally:
        await engine.dispose()
