"""Rig shared by the IVR system tests: a recording AMI client, the daemon started with a
flows directory of its own, a caller entering the IVR (or a queue) and pressing digits,
and waiting for what the call's AGI session does (the AMI event that says it started,
never a guess of how long a prompt plays)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from ccd.app import Daemon
from ccd.db import migrate
from ccd.domain import contract
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


async def customer_call(
    ami: RawAmi,
    *,
    number: str,
    name: str,
    context: str,
    variables: Mapping[str, str],
    channel_id: str | None = None,
) -> str:
    """A customer (``Local/answer@ccd-sim``: answers at once, then listens) calling as
    ``name <number>`` into ``context`` (``ccd-ivr`` or ``ccd-queue-wait``) with the
    channel ``variables`` that say which flow or queue and which FastAGI; returns the
    channel id (default ``caller-<number>``): the Local ``;1`` half, which runs
    ``context``."""
    channel_id = channel_id or f"caller-{number}"
    reply = await ami.action(
        "Originate",
        Channel=f"Local/{contract.SimExten.ANSWER}@{contract.SIM_CONTEXT}",
        Context=context,
        Exten="s",
        Priority="1",
        Async="true",
        CallerID=f"{name} <{number}>",
        ChannelId=channel_id,
        Variable=",".join(f"{k}={v}" for k, v in variables.items()),
    )
    assert reply.get("Response") == "Success", reply
    return channel_id


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


async def call_in(daemon: Daemon, recorder: RawAmi, flow: str) -> tuple[str, str]:
    """Enter ``flow``; returns (linkedid, the AGI channel) once the AGI session started."""
    answered = await enter_ivr(recorder, daemon.agi_port, flow=flow)
    agi_start = await recorder.wait_for(
        lambda f: (
            f.get("Event") == "AGIExecStart"
            and f.get("Linkedid") == answered["Uniqueid"]
            and f.get("Channel", "").endswith(";2")
        ),
        15,
    )
    return answered["Uniqueid"], agi_start["Channel"]


async def press(ami: RawAmi, channel: str, digits: str) -> None:
    """DTMF ``digits`` on ``channel``, one at a time, as a person types them: each key held
    200 ms (PlayDTMF answers once it is released), then 300 ms to the next key."""
    for digit in digits:
        reply = await ami.action("PlayDTMF", Channel=channel, Digit=digit, Duration="200")
        assert reply["Response"] == "Success", reply
        await asyncio.sleep(0.3)  # pacing between keys, not waiting for anything


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


def agi_started(channel: str, command: str, naming: str = "") -> Callable[[Frame], bool]:
    """Matches the ``AGIExecStart`` of ``command`` (``GET DATA``, ``STREAM FILE``...) on
    ``channel``, whose command line names ``naming`` (a prompt, say). Asterisk publishes
    it just before it runs the command: a digit sent once ``GET DATA`` started is read by
    it, one sent once a ``STREAM FILE`` started reaches that prompt."""

    def match(frame: Frame) -> bool:
        line = frame.get("Command", "")
        return (
            frame.get("Event") == "AGIExecStart"
            and frame.get("Channel") == channel
            and line.startswith(command)
            and naming in line
        )

    return match


async def agi_command_started(
    ami: RawAmi,
    channel: str,
    command: str,
    naming: str = "",
    *,
    nth: int = 1,
    seconds: float = 15,
) -> Frame:
    """Wait until the AGI session on ``channel`` has started ``command`` (naming
    ``naming``) for the ``nth`` time, counting what ``ami`` already read; fails after
    ``seconds``."""
    match = agi_started(channel, command, naming)
    seen = [frame for frame in ami.received if match(frame)]
    if len(seen) >= nth:
        return seen[nth - 1]
    count = len(seen)

    def counted(frame: Frame) -> bool:
        nonlocal count
        count += match(frame)
        return count >= nth

    return await ami.wait_for(counted, seconds)


async def listening(ami: RawAmi, channel: str, *, nth: int = 1) -> Frame:
    """The ``nth`` ``GET DATA`` of ``channel``'s AGI session started: the menu's prompts
    have played and it reads digits now."""
    return await agi_command_started(ami, channel, "GET DATA", nth=nth)
