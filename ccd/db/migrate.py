"""Schema migrations (Alembic), callable from the CLI and from the app.

The migration scripts live in the top-level ``migrations/`` directory, found relative to
this package so ``ccd db upgrade`` works from any working directory. Every function takes a
database URL (or an existing AsyncEngine) and turns "cannot reach the database" and
"no such revision" into one-line ``CcdError``s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

import ccd
from ccd.db.engine import create_engine, driver_error
from ccd.errors import DatabaseError, UsageError
from ccd.settings import mask_database_url

log = structlog.get_logger("ccd.db.migrate")

T = TypeVar("T")

_PACKAGE_DIR = Path(ccd.__file__).resolve().parent
# Source checkout / editable install first, then a copy shipped inside the wheel.
_CANDIDATE_DIRS = (_PACKAGE_DIR.parent / "migrations", _PACKAGE_DIR / "_migrations")


def migrations_dir() -> Path:
    for candidate in _CANDIDATE_DIRS:
        if (candidate / "env.py").is_file():
            return candidate
    tried = ", ".join(str(c) for c in _CANDIDATE_DIRS)
    raise DatabaseError(f"migration scripts not found (looked in {tried})")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revisions() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


async def upgrade(target: str | AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``. Already there: nothing happens."""
    async with _engine(target) as engine:
        before = await _current_on(engine)
        log.info("db.upgrade.start", database=_masked(engine), current=before, target=revision)
        await _run(engine, lambda config: command.upgrade(config, revision))
        after = await _current_on(engine)
        if after == before:
            log.info("db.upgrade.noop", database=_masked(engine), current=after)
        else:
            log.info("db.upgrade.done", database=_masked(engine), previous=before, current=after)


async def downgrade(target: str | AsyncEngine, revision: str) -> None:
    """Revert migrations down to ``revision`` ("base" removes every ccd table)."""
    async with _engine(target) as engine:
        before = await _current_on(engine)
        log.info("db.downgrade.start", database=_masked(engine), current=before, target=revision)
        await _run(engine, lambda config: command.downgrade(config, revision))
        after = await _current_on(engine)
        log.info("db.downgrade.done", database=_masked(engine), previous=before, current=after)


async def current(target: str | AsyncEngine) -> str | None:
    """The database's revision, or None if it was never migrated."""
    async with _engine(target) as engine:
        return await _current_on(engine)


async def is_current(target: str | AsyncEngine) -> bool:
    """True when the database is at the newest revision shipped with this ccd."""
    async with _engine(target) as engine:
        return _is_head(await _current_on(engine))


class SchemaNotCurrent(UsageError):
    """A configured database is behind this ccd: the operator runs ``ccd db upgrade``."""


async def prepare(target: str | AsyncEngine, *, embedded: bool) -> None:
    """Make the database ready for any command that uses it (``ccd run``, tokens, seed).

    The embedded SQLite database belongs to this ccd alone, so it is migrated on first use
    by whichever command opens it. A configured database (PostgreSQL) may be shared and
    backed up by others: changing its schema stays the operator's explicit step, and an
    outdated one is refused with the revision it is at and the command that fixes it."""
    async with _engine(target) as engine:
        revision = await _current_on(engine)
        if _is_head(revision):
            return
        if embedded:
            await upgrade(engine)
            return
        heads = ", ".join(head_revisions())
        found = "never migrated" if revision is None else f"at revision {revision}"
        raise SchemaNotCurrent(
            f"database {_masked(engine)} is {found}, this ccd needs revision {heads}: "
            "run `ccd db upgrade` first"
        )


def _is_head(revision: str | None) -> bool:
    return revision is not None and (revision,) == head_revisions()


@asynccontextmanager
async def _engine(target: str | AsyncEngine) -> AsyncIterator[AsyncEngine]:
    if isinstance(target, AsyncEngine):
        yield target
        return
    try:
        engine = create_engine(target)
    except ValueError as exc:
        raise UsageError(f"database URL {mask_database_url(target)}: {exc}") from None
    try:
        yield engine
    finally:
        await engine.dispose()


async def _current_on(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    return await _on_connection(engine, read)


async def _run(engine: AsyncEngine, step: Callable[[Config], None]) -> None:
    def run(connection: Connection) -> None:
        step(alembic_config(connection))

    await _on_connection(engine, run)


async def _on_connection(engine: AsyncEngine, work: Callable[[Connection], T]) -> T:
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    except CommandError as exc:
        raise UsageError(f"migration: {exc}") from None
    except (OSError, TimeoutError, SQLAlchemyError) as exc:
        raise DatabaseError(f"database {_masked(engine)}: {_reason(exc)}") from None


def _masked(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _reason(exc: BaseException) -> str:
    """The driver's own message, first line only (SQLAlchemy appends links and SQL)."""
    name, detail = driver_error(exc)
    if not detail:
        return f"{name} (is the server running and reachable?)"
    return f"{detail} ({name})"
