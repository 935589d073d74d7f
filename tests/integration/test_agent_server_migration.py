"""Migration 0015_agent_server on SQLite: the column matches the model, rows written
before it read as the default server (None), and it downgrades away."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ccd.db import migrate
from ccd.db.acd_store import AcdStore
from ccd.db.engine import create_engine
from ccd.db.models import metadata


async def test_agent_server_column_matches_the_model_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ccd.sqlite3'}"
    await migrate.upgrade(url, "0014_cdr_server")
    engine = create_engine(url)

    def differences(connection: Connection) -> list[object]:
        found = compare_metadata(MigrationContext.configure(connection), metadata)
        return [d for d in found if "acd_agents" in repr(d)]

    def agent_columns(connection: Connection) -> set[str]:
        return {c["name"] for c in connection.dialect.get_columns(connection, "acd_agents")}

    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO acd_agents (id, name, interface, skills, max_calls, "
                    "created_at, updated_at) VALUES ('1001', 'Alice', 'PJSIP/1001', '{}', 1, "
                    ":at, :at)"
                ),
                {"at": datetime(2026, 12, 1, tzinfo=UTC)},
            )
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
        [old] = await AcdStore(engine).list_agents()
        assert old.agent.id == "1001"
        assert old.agent.server is None

        await migrate.downgrade(engine, "0014_cdr_server")
        async with engine.connect() as connection:
            assert "server" not in await connection.run_sync(agent_columns)
    finally:
        await engine.dispose()
