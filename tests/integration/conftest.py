"""Fixtures shared by the integration tests: a migrated SQLite database per test, copied
from a template migrated once per session (``tests.integration.sqlitedb``).

A module that needs another database (seeded, migrated by the test, PostgreSQL) defines
its own ``engine`` fixture, which takes the place of this one there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.engine import create_engine
from tests.integration.sqlitedb import build_template, copy_database


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head; tests get copies of it (``engine``)."""
    return build_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture
async def engine(template: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on this test's own copy of ``template``."""
    engine = create_engine(copy_database(template, tmp_path))
    yield engine
    await engine.dispose()
