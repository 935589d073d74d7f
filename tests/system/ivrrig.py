"""Rig shared by the IVR system tests: a recording AMI client, the daemon started with a
flows directory of its own, and a caller entering the IVR and pressing digits.

The caller helpers (enter_ivr, press, reached, agi_commands, first_half) moved here from
test_agi_sandbox.py, which keeps its own copy (and test_ivr_daemon and test_ivr_scenarios
import them from it) until their concurrent rewrite lands and they import them from here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from ccd.ami import contract
from ccd.app import Daemon
from ccd.db import migrate
from ccd.settings import parse_settings
from tests.system.conftest import AsteriskSandbox
from tests.system.rawami import Frame, RawAmi
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


IVR_CHANNEL = f"Local/s@{contract.IVR_CONTEXT}"


async def enter_ivr(ami: RawAmi, agi_port: int, flow: str = "test") -> Frame:
    """Originate into ccd-ivr (our side waits); returns the OriginateResponse."""
    action_id = await ami.send(
        "Originate",
        Channel=IVR_CHANNEL,
        Application="Wait",
        Data="60",
        Async="true",
        Variable=f"{contract.VAR_AGI_PORT}={agi_port},{contract.VAR_IVR_FLOW}={flow}",
    )
    response = await ami.wait_for(
        lambda f: f.get("Event") == "OriginateResponse" and f.get("ActionID") == action_id, 30
    )
    assert response["Response"] == "Success", response
    ami.originated.append(response["Channel"])
    return response


async def press(ami: RawAmi, channel: str, digits: str) -> None:
    """DTMF ``digits`` on ``channel``, one at a time."""
    for digit in digits:
        reply = await ami.action("PlayDTMF", Channel=channel, Digit=digit, Duration="200")
        assert reply["Response"] == "Success", reply
        await asyncio.sleep(0.3)


def reached(context: str, exten: str, app: str | None = None) -> Callable[[Frame], bool]:
    """Matches the Newexten of the dialplan entering ``context``/``exten`` (and ``app``)."""

    def match(frame: Frame) -> bool:
        return (
            frame.get("Event") == "Newexten"
            and frame.get("Context") == context
            and frame.get("Extension") == exten
            and (app is None or frame.get("Application") == app)
        )

    return match


def agi_commands(ami: RawAmi, channel: str) -> list[str]:
    """Every AGI command ``channel`` executed so far."""
    return [
        f["Command"]
        for f in ami.received
        if f.get("Event") == "AGIExecStart" and f.get("Channel") == channel
    ]


def first_half(agi_channel: str) -> str:
    """The ``;1`` half of a Local channel, given its ``;2`` half."""
    return agi_channel[:-1] + "1"
