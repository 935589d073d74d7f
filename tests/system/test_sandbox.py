"""The rig is real: a real Asterisk places, bridges and hangs up calls over AMI, and a
real PostgreSQL stores rows. Every other system test builds on these fixtures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from ccd.domain import contract
from ccd.domain.contract import SimExten, sim_channel
from tests.system.conftest import AsteriskSandbox, PostgresCluster
from tests.system.rawami import Frame, RawAmi


@pytest.fixture
async def ami(asterisk_sandbox: AsteriskSandbox) -> AsyncIterator[RawAmi]:
    client = await RawAmi.connect(asterisk_sandbox.host, asterisk_sandbox.port)
    async with client:
        await client.login(asterisk_sandbox.username, asterisk_sandbox.secret)
        yield client
        # Only our own calls: other tests may share the sandbox.
        for channel in client.originated:
            await client.send("Hangup", Channel=channel)


def events(ami: RawAmi, name: str, linkedid: str) -> list[Frame]:
    return [f for f in ami.received if f.get("Event") == name and f.get("Linkedid") == linkedid]


async def originate(ami: RawAmi, channel: str, **extra: str) -> Frame:
    """Originate to ``channel`` (running Wait on our side) and return its OriginateResponse."""
    action_id = await ami.send(
        "Originate", Channel=channel, Application="Wait", Data="3600", Async="true", **extra
    )
    queued = await ami.response(action_id)
    assert queued["Response"] == "Success", queued
    response = await ami.wait_for(
        lambda f: f.get("Event") == "OriginateResponse" and f.get("ActionID") == action_id, 40
    )
    if response["Response"] == "Success":
        ami.originated.append(response["Channel"])
    return response


async def test_ami_banner_names_asterisk(ami: RawAmi) -> None:
    assert ami.banner.startswith("Asterisk Call Manager/")


async def test_originated_call_bridges_two_parties_and_hangs_up(
    ami: RawAmi, asterisk_sandbox: AsteriskSandbox
) -> None:
    answered = await originate(
        ami, sim_channel(SimExten.DIAL_ANSWER), Variable=f"{contract.VAR_REQUEST_ID}=sandbox-1"
    )
    assert answered["Response"] == "Success", answered
    linkedid = answered["Uniqueid"]

    await ami.wait_for(lambda _: len(events(ami, "BridgeEnter", linkedid)) >= 2)
    entered = events(ami, "BridgeEnter", linkedid)
    assert len({f["BridgeUniqueid"] for f in entered}) == 1, "both parties in one bridge"
    created = {f["Channel"] for f in events(ami, "Newchannel", linkedid)}
    assert len(created) == 4, created  # Local dial-answer;1/;2 and answer;1/;2
    assert {f["Channel"] for f in entered} <= created

    listed = asterisk_sandbox.active_channels()
    assert created <= set(listed)
    assert "Local/dial-answer@ccd-sim" in asterisk_sandbox.cli("core show channels")

    hung = await ami.action("Hangup", Channel=answered["Channel"])
    assert hung["Response"] == "Success", hung
    await ami.wait_for(lambda _: len(events(ami, "Hangup", linkedid)) == 4)
    assert not created & set(asterisk_sandbox.active_channels())


async def test_request_id_rides_on_every_event_of_the_call(ami: RawAmi) -> None:
    answered = await originate(
        ami, sim_channel(SimExten.HANGUP_AFTER_2), Variable=f"{contract.VAR_REQUEST_ID}=req-42"
    )
    linkedid = answered["Uniqueid"]
    await ami.wait_for(lambda _: len(events(ami, "Hangup", linkedid)) == 2)
    tagged = [f for f in events(ami, "Hangup", linkedid) if f["Channel"].endswith(";1")]
    assert tagged[0]["ChanVariable"] == f"{contract.VAR_REQUEST_ID}=req-42"


async def test_cdr_event_carries_linkedid_and_sequence(ami: RawAmi) -> None:
    answered = await originate(ami, sim_channel(SimExten.HANGUP_AFTER_2))
    linkedid = answered["Uniqueid"]
    cdr = await ami.wait_for(
        lambda f: f.get("Event") == "Cdr" and f.get("LinkedID") == linkedid, 15
    )
    assert cdr["Disposition"] == "ANSWERED"
    assert cdr["Sequence"].isdigit()


async def test_ccd_login_gets_no_varset_or_newexten_but_recorder_does(
    ami: RawAmi, asterisk_sandbox: AsteriskSandbox
) -> None:
    recorder = await RawAmi.connect(asterisk_sandbox.host, asterisk_sandbox.port)
    async with recorder:
        await recorder.login(asterisk_sandbox.recorder_username, asterisk_sandbox.recorder_secret)
        # Dial() sets variables (DIALSTATUS, BRIDGEPEER, ...): VarSet events exist.
        answered = await originate(ami, sim_channel(SimExten.DIAL_ANSWER))
        linkedid = answered["Uniqueid"]
        await ami.wait_for(lambda _: len(events(ami, "BridgeEnter", linkedid)) == 2)
        await ami.action("Hangup", Channel=answered["Channel"])
        await ami.wait_for(lambda _: len(events(ami, "Hangup", linkedid)) == 4)
        await recorder.wait_for(lambda _: len(events(recorder, "Hangup", linkedid)) == 4)

    def names(client: RawAmi) -> set[str]:
        return {f["Event"] for f in client.received if f.get("Linkedid") == linkedid}

    assert {"VarSet", "Newexten"} <= names(recorder)
    assert not {"VarSet", "Newexten"} & names(ami)


async def test_ccd_login_has_least_privilege(ami: RawAmi) -> None:
    command = await ami.action("Command", Command="core show version")
    assert command["Response"] == "Error"
    assert command["Message"] == "Permission denied"
    listing = await ami.action("CoreShowChannels")
    assert listing["Response"] == "Success"


async def test_busy_far_end_fails_the_originate(ami: RawAmi) -> None:
    refused = await originate(ami, sim_channel(SimExten.BUSY))
    assert refused["Response"] == "Failure"
    assert refused["Reason"] == "5"  # AST_CONTROL_BUSY


async def test_shipped_originate_context_announces_the_request(ami: RawAmi) -> None:
    # Numbers starting with 2 ring forever in the sim context: the Originate times out.
    action_id = await ami.send(
        "Originate",
        Channel=f"Local/2001@{contract.ORIGINATE_CONTEXT}",
        Application="Wait",
        Data="1",
        Timeout="1500",
        Async="true",
        Variable=f"{contract.VAR_REQUEST_ID}=req-7",
    )
    announced = await ami.wait_for(
        lambda f: (
            f.get("UserEvent") == contract.USER_EVENT_ORIGINATE and f.get("RequestId") == "req-7"
        )
    )
    assert announced["Destination"] == "2001"
    outcome = await ami.wait_for(
        lambda f: f.get("Event") == "OriginateResponse" and f.get("ActionID") == action_id
    )
    assert outcome["Response"] == "Failure"


async def test_postgres_stores_rows(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+asyncpg://ccd:")
    conn = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        assert await conn.fetchval("SELECT 1") == 1
        await conn.execute("CREATE TABLE sandbox_probe (id int PRIMARY KEY, note text)")
        await conn.execute("INSERT INTO sandbox_probe VALUES (1, 'stored')")
        assert await conn.fetchval("SELECT note FROM sandbox_probe WHERE id = 1") == "stored"
        await conn.execute("DROP TABLE sandbox_probe")
    finally:
        await conn.close()


async def test_postgres_can_be_stopped_and_started(postgres_cluster: PostgresCluster) -> None:
    dsn = postgres_cluster.url.replace("postgresql+asyncpg", "postgresql")
    postgres_cluster.stop()
    try:
        with pytest.raises((OSError, asyncpg.PostgresError)):
            await asyncpg.connect(dsn, timeout=5)
    finally:
        postgres_cluster.start()
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT 2") == 2
    finally:
        await conn.close()


async def test_restart_drops_ami_and_comes_back(asterisk_sandbox: AsteriskSandbox) -> None:
    before = await RawAmi.connect(asterisk_sandbox.host, asterisk_sandbox.port)
    async with before:
        await before.login(asterisk_sandbox.username, asterisk_sandbox.secret)
        await asyncio.to_thread(asterisk_sandbox.restart)
        with pytest.raises(asyncio.IncompleteReadError):
            await before.read_until_closed()
    after = await RawAmi.connect(asterisk_sandbox.host, asterisk_sandbox.port)
    async with after:
        await after.login(asterisk_sandbox.username, asterisk_sandbox.secret)
