"""Live monitoring with two Asterisk servers, over HTTP: the real MonitorService and
AuditStore (SQLite) behind the real API, and two in-memory AMIs that record what ccd asks
of each server. ChanSpy hears only its own server's channels: the supervisor's device is
rung, switched and hung up on the server of the agent's channel, a device configured on
another server only is a 409, and a resync settles only its own server's sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.ami.actions import HangupAction, OriginateAction, RedirectAction
from ccd.db.audit_store import AuditStore
from ccd.domain.calls import LiveChannel
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import AgentRingStarted, OriginateResponded, ResyncFinished
from ccd.monitor.devices import MonitorDevices
from ccd.monitor.service import MonitorService
from tests.clock import FakeClock
from tests.integration.actionami import ActionAmi
from tests.integration.apifakes import T0, Api, FakeCalls, make_call, running_api, send

WEST_CALL = "west-1765098000.7"
AGENT_LEG = "west-ccd-acd-r1"
# east's supervisors' phones are 1xxx, west's 2xxx.
DEVICES = MonitorDevices(
    ("PJSIP/*",), {"east": ("PJSIP/1*",), "west": ("PJSIP/2*", "Local/*@phones")}
)


@dataclass
class Rig:
    api: Api
    service: MonitorService
    servers: dict[str, ActionAmi]
    audit: AuditStore
    live: dict[str, str]  # uniqueid -> server


def west_call_with_agent() -> Any:
    base = make_call(WEST_CALL)
    customer = base.channels[0]
    customer = replace(customer, snapshot=replace(customer.snapshot, server="west"))
    agent = LiveChannel(
        snapshot=ChannelSnapshot(
            uniqueid=AGENT_LEG,
            linkedid=WEST_CALL,
            name="PJSIP/2101-0000000a",
            state=ChannelState.UP,
            server="west",
        ),
        created_at=T0 + timedelta(seconds=5),
        answered_at=T0 + timedelta(seconds=8),
        bridge_id="b1",
    )
    return replace(base, channels=(customer, agent))


@asynccontextmanager
async def two_servers(engine: AsyncEngine) -> AsyncIterator[Rig]:
    servers = {"east": ActionAmi(), "west": ActionAmi()}
    audit = AuditStore(engine)
    ids = iter(f"m{n}" for n in range(1, 100))
    live = {WEST_CALL: "west", AGENT_LEG: "west"}
    calls = FakeCalls([west_call_with_agent()])
    service = MonitorService(
        ami_for_server=servers.__getitem__,
        calls=calls,
        audit=audit,
        clock=FakeClock(T0 + timedelta(seconds=30)),
        live_uniqueids=lambda: dict(live),
        ring_timeout_s=25,
        devices=DEVICES,
        new_id=lambda: next(ids),
    )
    service.handle(
        AgentRingStarted(
            at=T0, linkedid=WEST_CALL, leg_linkedid=AGENT_LEG, agent_id="2101", queue="q"
        )
    )
    async with running_api(calls_directory=calls, audit=audit, monitors=service) as api:
        yield Rig(api, service, servers, audit, live)


async def start(rig: Rig, device: str) -> tuple[int, Any]:
    body = {"device": device, "mode": "listen"}
    return await send(rig.api, "POST", f"/api/v1/calls/{WEST_CALL}/monitor", "supervisor", body)


async def test_a_west_call_is_monitored_switched_and_ended_on_west(engine: AsyncEngine) -> None:
    async with two_servers(engine) as rig:
        status, body = await start(rig, "PJSIP/2001")
        assert status == 201, body
        [ring] = rig.servers["west"].actions
        assert isinstance(ring, OriginateAction)
        assert (ring.channel, ring.variables["CCD_MONITOR_TARGET"]) == (
            "PJSIP/2001",
            "PJSIP/2101-0000000a",
        )
        rig.service.handle(
            OriginateResponded(
                at=T0,
                action_id="ccd-mon-m1",
                success=True,
                reason=4,
                channel="PJSIP/2001-0000000c",
                uniqueid="ccd-mon-m1",
                server="west",
            )
        )
        status, body = await send(
            rig.api, "PATCH", "/api/v1/monitors/m1", "supervisor", {"mode": "whisper"}
        )
        assert (status, body["mode"], body["state"]) == (200, "whisper", "active")
        status, body = await send(rig.api, "DELETE", "/api/v1/monitors/m1", "supervisor")
        assert (status, body["reason"]) == (200, "stopped")
        assert rig.servers["west"].actions[1:] == [
            RedirectAction("ccd-mon-m1", "ccd-monitor", "whisper"),
            HangupAction("ccd-mon-m1"),
        ]
        assert rig.servers["east"].actions == []


async def test_a_device_of_another_server_is_a_409_saying_why(engine: AsyncEngine) -> None:
    async with two_servers(engine) as rig:
        status, body = await start(rig, "PJSIP/1001")
        assert status == 409
        assert body["detail"] == (
            "PJSIP/1001 is a device of Asterisk server east, but the call is on server "
            "west: Asterisk listens only to channels of its own server, so the "
            "supervisor's device must be one of server west's"
        )
        # A device of no server at all is still a 422 naming device, listing every pattern.
        status, body = await start(rig, "SIP/2001")
        assert status == 422
        [error] = body["errors"]
        assert error["field"] == "device"
        assert "'PJSIP/1*', 'PJSIP/2*', 'Local/*@phones'" in error["message"]
        # Nothing rang anywhere, nothing audited.
        assert rig.servers["west"].actions == []
        assert rig.servers["east"].actions == []
        assert await rig.audit.search(action="monitor.started") == []


async def test_only_a_resync_of_the_sessions_server_settles_it(engine: AsyncEngine) -> None:
    async with two_servers(engine) as rig:
        assert (await start(rig, "PJSIP/2001"))[0] == 201
        # The supervisor's channel went while ccd was not listening to west; an orphan
        # supervisor channel of an earlier ccd lives on east.
        rig.live["ccd-mon-0f3a"] = "east"
        rig.service.handle(ResyncFinished(at=T0, channel_count=1, server="east"))
        await rig.service.stop_all()
        assert [s.id for s in rig.service.sessions()] == ["m1"]  # east's resync: not its
        assert rig.servers["east"].actions == [HangupAction("ccd-mon-0f3a")]
        rig.service.handle(ResyncFinished(at=T0, channel_count=2, server="west"))
        await rig.service.stop_all()
        assert rig.service.sessions() == []
        [ended] = await rig.audit.search(action="monitor.ended")
        assert ended.detail["reason"] == "lost"
