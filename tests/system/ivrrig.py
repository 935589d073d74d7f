"""Rig shared by the IVR system tests: a recording AMI client and the daemon started with
a flows directory of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from ccd.app import Daemon
from ccd.db import migrate
from ccd.settings import parse_settings
from tests.system.conftest import AsteriskSandbox
from tests.system.rawami import RawAmi
from tests.system.rig import daemon_environment


@asynccontextmanager
async def recording_ami(asterisk_sandbox: AsteriskSandbox) -> AsyncIterator[RawAmi]:
    """AMI with every event (Newexten included), to see where the dialplan went; hangs up
    what it originated."""
    client = await RawAmi.connect(asterisk_sandbox.host, asterisk_sandbox.port)
    async with client:
        await client.login(asterisk_sandbox.recorder_username, asterisk_sandbox.recorder_secret)
        yield client
        for channel in client.originated:
            await client.send("Hangup", Channel=channel)


@asynccontextmanager
async def ivr_daemon(
    asterisk_sandbox: AsteriskSandbox, tmp_path: Path, flows: Mapping[str, str]
) -> AsyncIterator[Daemon]:
    """The daemon (FastAGI on port 0) with ``flows`` (file name → TOML) as its flows dir."""
    asterisk_sandbox.hangup_all()
    flows_dir = tmp_path / "ivr"
    flows_dir.mkdir()
    for name, text in flows.items():
        (flows_dir / name).write_text(text)
    environ = daemon_environment(asterisk_sandbox, tmp_path / "data")
    environ |= {"CCD_AGI__PORT": "0", "CCD_IVR__FLOWS_DIR": str(flows_dir)}
    settings = parse_settings(None, source="test", environ=environ)
    await migrate.upgrade(settings.database_url)
    running = Daemon(settings)
    await running.start()
    try:
        await running.components.gateway.wait_resynced(20)
        yield running
    finally:
        await running.stop()
        asterisk_sandbox.hangup_all()
