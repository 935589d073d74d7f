"""ccd's daemon against two fake Asterisk servers, ``paris`` and ``lyon`` (fake AMI servers
on 127.0.0.1): for what real sandboxes cannot be made to do on cue (a systemname read
before any event, a server refusing a login)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from ccd.app import Daemon
from ccd.db import migrate
from ccd.settings import parse_settings
from tests.fakeami import FakeAmi


@asynccontextmanager
async def fake_asterisk(*, secret: str, system_name: str) -> AsyncIterator[FakeAmi]:
    server = FakeAmi(secret=secret)
    server.system_name = system_name
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@asynccontextmanager
async def two_server_daemon(
    paris: FakeAmi,
    lyon: FakeAmi,
    data_dir: Path,
    *,
    environ: Mapping[str, str],
    seed: Callable[[str], Awaitable[None]] | None = None,
) -> AsyncIterator[Daemon]:
    """ccd with ``[[asterisk]]`` paris then lyon, migrated (then ``seed``-ed), started and
    resynced on both; ``environ`` holds the secrets and anything else the test sets."""
    toml = f"""
[[asterisk]]
name = "paris"
host = "127.0.0.1"
port = {paris.port}

[[asterisk]]
name = "lyon"
host = "127.0.0.1"
port = {lyon.port}
"""
    settings = parse_settings(
        toml,
        source=str(data_dir / "ccd.toml"),
        environ={
            "CCD_DATA_DIR": str(data_dir),
            "CCD_HTTP__HOST": "127.0.0.1",
            "CCD_HTTP__PORT": "0",
            "CCD_AGI__PORT": "0",
            **environ,
        },
    )
    await migrate.upgrade(settings.database_url)
    if seed is not None:
        await seed(settings.database_url)
    running = Daemon(settings)
    await running.start()
    try:
        fleet = running.components.fleet
        assert fleet is not None
        for gateway in fleet:
            await gateway.wait_resynced(10)
        yield running
    finally:
        await running.stop()
