"""Migrated SQLite databases for integration tests: a template migrated once per session,
copied for each test (a migration per test would dominate the run time)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SEED = REPO / "config" / "acd-seed.toml"


def build_template(directory: Path) -> Path:
    """A database in ``directory`` migrated to head; tests copy it."""
    path = directory / "template.sqlite3"
    asyncio.run(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


def copy_database(template: Path, tmp_path: Path) -> str:
    """A copy of ``template`` in ``tmp_path``; returns its SQLAlchemy URL."""
    target = tmp_path / "ccd.sqlite3"
    shutil.copy(template, target)
    return f"sqlite+aiosqlite:///{target}"


async def table_names(engine: AsyncEngine) -> set[str]:
    """The tables in ``engine``'s database (any dialect)."""

    def names(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with engine.connect() as connection:
        return await connection.run_sync(names)
