"""Rig shared by the system tests: the daemon's environment against the sandbox, a quiet
sandbox, and a fresh database in the session's PostgreSQL cluster."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg

from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.waiting import eventually


def daemon_environment(sandbox: AsteriskSandbox, data_dir: Path) -> dict[str, str]:
    """CCD_* variables for a daemon against ``sandbox`` with its data in ``data_dir``."""
    return {
        "CCD_AMI__HOST": sandbox.host,
        "CCD_AMI__PORT": str(sandbox.port),
        "CCD_AMI__USERNAME": sandbox.username,
        "CCD_AMI__SECRET": sandbox.secret,
        "CCD_AMI__RECONNECT_MIN_S": "0.2",
        "CCD_AMI__RECONNECT_MAX_S": "2",
        "CCD_DATA_DIR": str(data_dir),
        "CCD_HTTP__PORT": "0",
        # The daemon's FastAGI server; 0 keeps daemons in tests off each other's port.
        "CCD_AGI__PORT": "0",
    }


async def quiet_sandbox(sandbox: AsteriskSandbox) -> None:
    """Hang up every channel and wait until the sandbox has none."""
    sandbox.hangup_all()
    await eventually(lambda: not sandbox.active_channels(), within_s=10, what="no channels")


async def create_database(cluster: PostgresCluster) -> str:
    """A new empty database owned by ccd in the session cluster; returns its URL."""
    name = f"cdr_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        host=str(cluster.directory),  # the cluster's socket; local trust for postgres
        port=cluster.port,
        user="postgres",
        database="postgres",
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}" OWNER ccd')
    finally:
        await admin.close()
    return cluster.url.rsplit("/", 1)[0] + "/" + name
