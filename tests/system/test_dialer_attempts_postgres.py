"""The attempt store's tests (tests/integration/test_dialer_attempts_store.py) again on a
real PostgreSQL cluster (scripts/pg-cluster), in a private schema of the session database:
row locks under concurrent claims, FILTER aggregates, ON CONFLICT over the partial index
of the global do-not-call list, timestamptz, and migration 0006's round trip. They are
collected here from the star import, with this ``engine`` fixture (the SQLite one is
tests/integration/conftest.py's, which does not reach this folder)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate
from tests.integration.test_dialer_attempts_store import *  # noqa: F403

pytestmark = pytest.mark.postgres


@pytest.fixture
async def engine(private_schema_engine: AsyncEngine) -> AsyncEngine:
    """The tests' database: this schema, migrated."""
    await migrate.upgrade(private_schema_engine)
    return private_schema_engine
