"""Rig shared by the system tests: the daemon's environment against the sandbox, a quiet
sandbox, a fresh database in the session's PostgreSQL cluster, and `ccd run` as a
subprocess (for kill -9 and restarts)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
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


# ---- `ccd run` as a subprocess (kill -9 and restarts) ------------------------------

CCD = Path(sys.executable).parent / "ccd"


@dataclass
class CcdProcess:
    process: asyncio.subprocess.Process
    log_path: Path
    port: int

    def log_events(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def ended_linkedids(self) -> set[str]:
        return {e["linkedid"] for e in self.log_events() if e.get("event") == "call ended"}

    async def readiness(self) -> tuple[int, dict[str, Any]] | None:
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{self.port}/readyz") as response,
            ):
                return response.status, await response.json()
        except aiohttp.ClientConnectionError:
            return None

    async def wait_ready(self) -> None:
        async def ready() -> bool:
            answer = await self.readiness()
            return answer is not None and answer[0] == 200

        await eventually(ready, within_s=30, what="ccd run /readyz 200", interval_s=0.2)


async def start_ccd(env: dict[str, str], log_path: Path) -> CcdProcess:
    with log_path.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            str(CCD), "run", env=env, stdout=log_file, stderr=asyncio.subprocess.STDOUT
        )
    return CcdProcess(process=process, log_path=log_path, port=int(env["CCD_HTTP__PORT"]))


async def stop_process(ccd: CcdProcess) -> None:
    if ccd.process.returncode is None:
        ccd.process.kill()
        await ccd.process.wait()
