"""Migration 0011: the webhook tables match the models, and it downgrades cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from ccd.db import migrate
from ccd.db.engine import create_engine
from ccd.db.models import metadata


async def test_the_migration_matches_the_models_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ccd.sqlite3'}"
    await migrate.upgrade(url)

    def differences(connection: Connection) -> list[object]:
        found = compare_metadata(MigrationContext.configure(connection), metadata)
        return [d for d in found if "webhook" in repr(d)]

    def tables(connection: Connection) -> set[str]:
        return set(connection.dialect.get_table_names(connection))

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
            assert {"webhook_subscriptions", "webhook_deliveries"} <= await connection.run_sync(
                tables
            )
        await migrate.downgrade(engine, "0010")
        async with engine.connect() as connection:
            assert not {"webhook_subscriptions", "webhook_deliveries"} & await connection.run_sync(
                tables
            )
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == migrate.head_revisions()[0]
    finally:
        await engine.dispose()
