"""Alembic environment for ccd.

Normally driven by ``ccd db upgrade`` (ccd.db.migrate), which hands over an open connection
in ``config.attributes["connection"]``. Also works with the plain ``alembic`` command
(``alembic -c migrations/alembic.ini upgrade head``): the URL then comes from
``sqlalchemy.url`` if set, else from ccd's own configuration (config/ccd.toml < CCD_*).
Logging is left to ccd (no fileConfig here), so progress lines go through structlog.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from ccd.db.engine import create_engine
from ccd.db.models import metadata

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: batch mode recreates tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run_on(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from ccd.settings import load_settings

    return load_settings(require_ami_secret=False).database_url


async def _run_online() -> None:
    engine = create_engine(_url())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run_on)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (shared := config.attributes.get("connection")) is not None:
    _run_on(shared)
else:
    asyncio.run(_run_online())
