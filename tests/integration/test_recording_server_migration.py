"""Migration 0017_recording_server on SQLite: the column matches the model, recordings
written before it read as the default server's (None), and it downgrades away."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ccd.db import migrate
from ccd.db.engine import create_engine
from ccd.db.models import metadata
from ccd.db.recording_store import RecordingStore

OLD = "rec-" + "0" * 32


async def test_recording_server_column_matches_the_model_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ccd.sqlite3'}"
    await migrate.upgrade(url, "0016_campaign_server")
    engine = create_engine(url)

    def differences(connection: Connection) -> list[object]:
        found = compare_metadata(MigrationContext.configure(connection), metadata)
        return [d for d in found if "recordings" in repr(d)]

    def recording_columns(connection: Connection) -> set[str]:
        return {c["name"] for c in connection.dialect.get_columns(connection, "recordings")}

    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO recordings (id, linkedid, channel, file, started_at, pauses) "
                    "VALUES (:id, '1765000000.1', 'PJSIP/trunk-00000001', :file, :at, '[]')"
                ),
                {"id": OLD, "file": OLD + ".wav", "at": datetime(2026, 12, 1, tzinfo=UTC)},
            )
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
        old = await RecordingStore(engine).get(OLD)
        assert old is not None
        assert old.server is None  # the first configured server's

        await migrate.downgrade(engine, "0016_campaign_server")
        async with engine.connect() as connection:
            assert "server" not in await connection.run_sync(recording_columns)
    finally:
        await engine.dispose()
