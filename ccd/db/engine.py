"""Async engine creation and the readiness ping.

PostgreSQL goes through asyncpg; the embedded default is SQLite through aiosqlite, in WAL
mode with a busy timeout so the API's reads and the writers do not fail with "database is
locked" under concurrency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ccd.settings import normalize_database_url

SQLITE_BUSY_TIMEOUT_MS = 5000
POSTGRES_CONNECT_TIMEOUT_S = 10.0


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An AsyncEngine for ``url`` (postgresql or sqlite; a bare scheme gets the async
    driver). For a SQLite file, its directory is created if missing."""
    parsed = make_url(normalize_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            parsed, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine.sync_engine, "connect", _tune_sqlite_connection)
        return engine
    # asyncpg waits 60 s for an unreachable host by default; fail sooner with a clear error.
    return create_async_engine(
        parsed,
        echo=echo,
        pool_pre_ping=True,
        connect_args={"timeout": POSTGRES_CONNECT_TIMEOUT_S},
    )


def _tune_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers do not block the writer; NORMAL is durable across app crashes in WAL.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


async def ping(engine: AsyncEngine) -> None:
    """Round-trip to the database; raises if it cannot be reached (for readiness)."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def driver_error(exc: BaseException) -> tuple[str, str]:
    """The driver's own exception name and the first line of its message, without the SQL,
    parameters and links SQLAlchemy appends ("" when the message is empty)."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(inner).strip().splitlines()
    return type(inner).__name__, lines[0] if lines else ""
