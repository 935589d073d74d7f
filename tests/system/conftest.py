"""Fixtures for tests against the real rig: Asterisk 22 in a chroot and a throwaway
PostgreSQL cluster, both started by the project's own scripts.

These tests are never skipped: if the rig cannot start they fail and say why, because
CI must really run them (``scripts/test`` brings the rig up as root).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ccd.db.engine import create_engine
from tests.ports import free_port

if TYPE_CHECKING:
    from tests.system.multiserverrig import Sandboxes

REPO = Path(__file__).resolve().parents[2]
SANDBOX_SCRIPT = REPO / "scripts" / "asterisk-sandbox"
PG_SCRIPT = REPO / "scripts" / "pg-cluster"
SYSTEM_DIR = Path(__file__).resolve().parent

# Must match docker/asterisk/manager.conf (throwaway sandbox credentials).
AMI_HOST = "127.0.0.1"
AMI_PORT = 5038
AMI_USERNAME = "ccd"
AMI_SECRET = "ccd-sandbox-secret"
RECORDER_USERNAME = "recorder"
RECORDER_SECRET = "ccd-recorder-secret"


def _run(args: list[str | Path], what: str, timeout: float) -> str:
    try:
        done = subprocess.run(
            [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: timed out after {timeout:.0f}s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(
            f"{what}: exit {done.returncode}\n{done.stderr.strip()}\n{done.stdout.strip()}",
            pytrace=False,
        )
    return done.stdout


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.fail(
            f"{what} needs root (chroot, mount, runuser); run the suite with scripts/test as root",
            pytrace=False,
        )


@dataclass(frozen=True)
class AsteriskSandbox:
    """The running sandbox: AMI on loopback plus the Asterisk CLI."""

    host: str = AMI_HOST
    port: int = AMI_PORT
    username: str = AMI_USERNAME
    secret: str = AMI_SECRET
    recorder_username: str = RECORDER_USERNAME
    recorder_secret: str = RECORDER_SECRET

    def cli(self, command: str) -> str:
        """Output of an Asterisk CLI command, e.g. ``cli("core show channels")``."""
        return _run([SANDBOX_SCRIPT, "cli", command], f"asterisk CLI {command!r}", 30)

    def restart(self) -> None:
        """Stop and start Asterisk (AMI connections drop; returns when AMI answers again)."""
        _run([SANDBOX_SCRIPT, "restart"], "scripts/asterisk-sandbox restart", 120)

    def hangup_all(self) -> None:
        """Hang up every channel, so a test starts without another test's calls."""
        self.cli("channel request hangup all")

    def active_channels(self) -> list[str]:
        """Names of the channels Asterisk has now (``core show channels concise``)."""
        out = self.cli("core show channels concise")
        return [line.split("!", 1)[0] for line in out.splitlines() if "!" in line]


@pytest.fixture(scope="session")
def asterisk_sandbox() -> AsteriskSandbox:
    """Starts the sandbox if needed (idempotent) and leaves it running for reruns."""
    _require_root("the Asterisk sandbox")
    _run([SANDBOX_SCRIPT, "up"], "scripts/asterisk-sandbox up", 900)
    return AsteriskSandbox()


@dataclass(frozen=True)
class PostgresCluster:
    directory: Path
    port: int
    url: str

    def stop(self) -> None:
        """Stop the server but keep its data (database outage tests)."""
        _run([PG_SCRIPT, "stop", self.directory], "scripts/pg-cluster stop", 120)

    def start(self) -> None:
        _run([PG_SCRIPT, "start", self.directory], "scripts/pg-cluster start", 120)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A fresh PostgreSQL cluster for the session, deleted afterwards."""
    # Not pytest's tmp_path: its 0700 parent would keep the postgres user out.
    directory = Path(tempfile.mkdtemp(prefix="ccd-pg-"))
    port = free_port()
    try:
        out = _run([PG_SCRIPT, "up", directory, str(port)], "scripts/pg-cluster up", 600)
        url = out.strip().splitlines()[-1]
        yield PostgresCluster(directory=directory, port=port, url=url)
    finally:
        subprocess.run([str(PG_SCRIPT), "down", str(directory)], capture_output=True, check=False)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """SQLAlchemy URL, ``postgresql+asyncpg://ccd:ccd@127.0.0.1:PORT/ccd``."""
    return postgres_cluster.url


@pytest.fixture
async def private_schema_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine whose tables live in a fresh schema of the session database (search_path),
    dropped afterwards, so tests sharing the cluster never see each other's rows."""
    schema = f"ccd_test_{secrets.token_hex(4)}"
    admin = create_engine(postgres_url)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_async_engine(
        postgres_url, connect_args={"server_settings": {"search_path": schema}}
    )
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture(scope="module")
def two_sandboxes() -> Iterator[Sandboxes]:
    """Two extra Asterisk instances, ``east`` and ``west``, up for the module (with the
    default sandbox's root below them): tests/system/multiserverrig.py."""
    from tests.system.multiserverrig import bring_up_sandboxes  # it imports this module

    with bring_up_sandboxes() as sandboxes:
        yield sandboxes


_MARKERS = {
    "asterisk_sandbox": "asterisk",
    "two_sandboxes": "asterisk",
    "postgres_cluster": "postgres",
    "postgres_url": "postgres",
    "private_schema_engine": "postgres",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SYSTEM_DIR not in Path(str(item.path)).resolve().parents:
            continue
        for fixture, marker in _MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
