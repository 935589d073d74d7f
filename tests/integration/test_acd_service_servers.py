"""The running ACD with two Asterisk servers, "east" (the default) and "west", each with
its own fake gateway: a caller is offered only its own server's agents, and every ring,
call back and hangup for it goes through its server's gateway; a resync of one server
settles only that server's calls."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from structlog.testing import capture_logs

from ccd.acd.model import Agent, Queue, Strategy
from ccd.acd.seed import AcdConfig
from ccd.acd.service import TICK_S, AcdServers, AcdService
from ccd.acd.waiting import Arrival, Leave
from ccd.api.models.acd import AgentLive
from ccd.domain import contract
from ccd.domain.events import ResyncFinished
from ccd.domain.system_names import server_by_system_name
from ccd.webhooks.payloads import body, from_message
from tests.clock import FakeClock, settle
from tests.integration.acdfakes import (
    REASON_NO_ANSWER,
    T0,
    FakeAmi,
    FakeStore,
    Rig,
    arrival,
    make_config,
    running_acd,
)

EAST_ADA = Agent("1001", "PJSIP/1001", name="Ada", server="east")
WEST_WES = Agent("2001", "PJSIP/2001", name="Wes", server="west")
# No server: the default one (east).
DEFAULT_DEE = Agent("1002", "PJSIP/1002", name="Dee")
# Each server's systemname is its name: uniqueids say "east-…" / "west-…".
SYSTEM_NAMES = {"east": "east", "west": "west"}


def sales(**overrides: Any) -> Queue:
    return Queue("sales", strategy=Strategy.LINEAR, **overrides)


def caller_on(server: str, n: int, **overrides: Any) -> Arrival:
    """Caller ``n`` whose channel is on ``server`` (its uniqueid carries the systemname)."""
    base = arrival(n, **overrides)
    uniqueid = f"{server}-{base.uniqueid}"
    return replace(base, uniqueid=uniqueid, linkedid=uniqueid, channel=f"PJSIP/trunk-{server}-{n}")


@dataclass
class Servers:
    east: FakeAmi = field(default_factory=FakeAmi)
    west: FakeAmi = field(default_factory=FakeAmi)
    # What each server's live model holds (uniqueid -> channel name).
    live: dict[str, dict[str, str]] = field(default_factory=lambda: {"east": {}, "west": {}})

    def gateway(self, name: str) -> FakeAmi:
        return {"east": self.east, "west": self.west}[name]

    def busy(self, interface: str, server: str) -> bool:
        return any(name.startswith(interface + "-") for name in self.live[server].values())


@contextlib.asynccontextmanager
async def two_servers(
    config: AcdConfig, *, login: Sequence[str] = ()
) -> AsyncIterator[tuple[Rig, Servers]]:
    servers = Servers()
    store = FakeStore(config)
    clock = FakeClock(T0)
    published: list[object] = []
    messages: list[dict[str, Any]] = []
    service = AcdService(
        ami=servers.east,
        store=store,
        publish=published.append,
        on_message=messages.append,
        clock=clock,
        servers=AcdServers(
            default="east",
            ami_for=servers.gateway,
            caller_server=lambda uniqueid, _linkedid: server_by_system_name(uniqueid, SYSTEM_NAMES),
            live_channels_on=lambda server: servers.live[server],
            interface_busy_on=servers.busy,
            names=("east", "west"),
        ),
    )
    # rig.ami is east's; west's is servers.west.
    rig = Rig(service, servers.east, store, clock, published, messages)
    await service.start()
    await settle()
    try:
        for agent_id in login:
            await service.login(agent_id, None)
        yield rig, servers
    finally:
        await service.stop()


async def test_each_callers_ring_goes_to_its_own_servers_agent_through_that_server() -> None:
    config = make_config([sales()], [EAST_ADA, WEST_WES])
    async with two_servers(config, login=["1001", "2001"]) as (rig, servers):
        west_caller = caller_on("west", 1)
        rig.service.arrive(west_caller)
        [west_ring] = await servers.west.wait_rings(1)
        assert (west_ring.interface, west_ring.caller_channel) == (
            "PJSIP/2001",
            "PJSIP/trunk-west-1",
        )
        assert servers.east.sent == []

        east_caller = caller_on("east", 2)
        rig.service.arrive(east_caller)
        [east_ring] = await servers.east.wait_rings(1)
        assert (east_ring.interface, east_ring.caller_channel) == (
            "PJSIP/1001",
            "PJSIP/trunk-east-2",
        )
        assert len(servers.west.sent) == 1

        rig.answered(west_ring)
        rig.answered(east_ring)
        assert rig.status("2001") == "on_call"
        assert rig.status("1001") == "on_call"


async def test_an_idle_agent_on_the_other_server_is_never_rung_for_a_caller() -> None:
    config = make_config([sales()], [EAST_ADA, WEST_WES])
    async with two_servers(config, login=["1001", "2001"]) as (rig, servers):
        await rig.service.pause("1001", "lunch")
        ticket = rig.service.arrive(caller_on("east", 1))
        await rig.clock.step(TICK_S * 8)
        assert servers.east.sent == []
        assert servers.west.sent == []
        assert rig.status("2001") == "available"
        view = rig.service.queue_live("sales")
        assert view is not None
        [waiting] = view["callers"]
        assert (waiting["server"], waiting["position"], waiting["ringing"]) == ("east", 1, [])

        await rig.service.unpause("1001")
        [ring] = await servers.east.wait_rings(1)
        assert ring.interface == "PJSIP/1001"
        assert not ticket.leave.done()


async def test_an_agent_without_a_server_serves_the_default_servers_callers() -> None:
    config = make_config([sales()], [DEFAULT_DEE, WEST_WES])
    async with two_servers(config, login=["1002", "2001"]) as (rig, servers):
        rig.service.arrive(caller_on("east", 1))
        [ring] = await servers.east.wait_rings(1)
        assert ring.interface == "PJSIP/1002"
        assert servers.west.sent == []


async def test_a_caller_whose_server_cannot_be_told_waits_on_the_default_server() -> None:
    config = make_config([sales()], [EAST_ADA, WEST_WES])
    async with two_servers(config, login=["2001", "1001"]) as (rig, servers):
        rig.service.arrive(arrival(1))  # no systemname prefix, not in a live model
        [ring] = await servers.east.wait_rings(1)
        assert ring.interface == "PJSIP/1001"
        assert servers.west.sent == []


async def test_the_ring_timeout_hangup_goes_to_the_callers_server() -> None:
    config = make_config([sales(ring_timeout_s=5.0)], [EAST_ADA, WEST_WES])
    async with two_servers(config, login=["1001", "2001"]) as (rig, servers):
        rig.service.arrive(caller_on("west", 1))
        [ring] = await servers.west.wait_rings(1)
        await rig.clock.step(5.0)
        assert await servers.west.wait_hangups(1) == [ring.channel_id]
        assert servers.east.hangup_actions == []
        rig.failed(ring, REASON_NO_ANSWER)


async def test_a_call_back_is_placed_on_the_callers_server() -> None:
    config = make_config([sales(callback_key="5")], [EAST_ADA, WEST_WES])
    async with two_servers(config, login=["1001", "2001"]) as (rig, servers):
        await rig.service.pause("2001", "lunch")
        ticket = rig.service.arrive(caller_on("west", 1, caller_num="5551111"))
        rig.service.callback_requested(ticket)
        rig.hung_up(ticket.arrival.uniqueid)
        await rig.clock.step(TICK_S * 4)
        assert servers.east.sent == []  # Ada is free, but on east
        await rig.service.unpause("2001")
        [call_back] = await servers.west.wait_callbacks(1)
        assert call_back.channel.startswith("Local/5551111@")
        assert servers.east.sent == []


async def test_a_resync_of_one_server_settles_only_that_servers_callers_and_agents() -> None:
    config = make_config([sales()], [EAST_ADA, WEST_WES])
    async with two_servers(config, login=["1001", "2001"]) as (rig, servers):
        east_first = caller_on("east", 1)
        west_first = caller_on("west", 2)
        rig.service.arrive(east_first)
        rig.service.arrive(west_first)
        [east_ring] = await servers.east.wait_rings(1)
        [west_ring] = await servers.west.wait_rings(1)
        rig.answered(east_ring)
        rig.answered(west_ring)
        east_waiting = caller_on("east", 3)
        west_waiting = caller_on("west", 4)
        rig.service.arrive(east_waiting)
        rig.service.arrive(west_waiting)

        # West dropped and came back with none of its channels; east's live model is
        # untouched (and empty here, as a wrong "everything" resync would read it).
        rig.service.handle(ResyncFinished(at=rig.clock.now(), channel_count=0, server="west"))
        abandoned = [m["call_id"] for m in rig.messages if m["type"] == "queue.caller_abandoned"]
        assert abandoned == [west_waiting.call_id]
        assert rig.status("2001") == "available"
        assert rig.status("1001") == "on_call"
        view = rig.service.queue_live("sales")
        assert view is not None
        assert [c["call_id"] for c in view["callers"]] == [east_waiting.call_id]

        # Then east's resync, its caller and Ada's leg live: nothing changes there.
        servers.live["east"] = {
            east_waiting.uniqueid: east_waiting.channel,
            east_ring.channel_id or "": "PJSIP/1001-00000001",
        }
        rig.service.handle(ResyncFinished(at=rig.clock.now(), channel_count=2, server="east"))
        assert rig.status("1001") == "on_call"
        assert len([m for m in rig.messages if m["type"] == "queue.caller_abandoned"]) == 1


async def test_a_device_busy_on_one_server_is_not_busy_on_the_other() -> None:
    # Two phones named PJSIP/3001, one on each server: the west one is on a call.
    east_eve = Agent("3001", "PJSIP/3001", name="Eve", server="east")
    config = make_config([sales()], [east_eve])
    async with two_servers(config, login=["3001"]) as (rig, servers):
        servers.live["west"] = {"west-1764064000.99": "PJSIP/3001-000000aa"}
        rig.service.arrive(caller_on("east", 1))
        [ring] = await servers.east.wait_rings(1)
        assert ring.interface == "PJSIP/3001"


async def test_one_server_without_acd_servers_settles_everything_on_its_resync() -> None:
    # The harness of one server (no AcdServers): the resync event names it all the same.
    config = make_config([sales()], [DEFAULT_DEE])
    live: dict[str, str] = {}
    async with running_acd(config, login=["1002"], live_channels=lambda: live) as rig:
        rig.service.arrive(arrival(1))
        [ring] = await rig.ami.wait_rings(1)
        rig.answered(ring)
        assert rig.status("1002") == "on_call"
        rig.service.handle(ResyncFinished(at=rig.clock.now(), channel_count=0, server="default"))
        assert rig.status("1002") == "available"  # its leg was gone


async def test_an_agent_on_a_server_no_longer_configured_is_warned_about_and_never_rung() -> None:
    gone = Agent("4001", "PJSIP/4001", name="Nils", server="north")
    config = make_config([sales()], [gone, EAST_ADA])
    with capture_logs() as logs:
        async with two_servers(config, login=["4001"]) as (rig, servers):
            ticket = rig.service.arrive(caller_on("east", 1))
            await rig.clock.step(TICK_S * 4)
            assert servers.east.sent == []
            assert servers.west.sent == []
            # Nobody logged in on east (Nils is on "north"): the no-agents destination.
            assert ticket.leave.done()
            assert ticket.leave.result() == Leave(contract.QueueAction.HANGUP)
    [warning] = [entry for entry in logs if entry.get("agent_id") == "4001"]
    assert warning["log_level"] == "warning"
    assert (warning["server"], warning["configured"]) == ("north", ["east", "west"])


# ---- the agent's server in its live state, the snapshot and agent.state ---------------------


def state_servers(rig: Rig, agent_id: str) -> list[tuple[str, str]]:
    """(status, server) of every ``agent.state`` message sent for this agent."""
    return [
        (m["status"], m["server"])
        for m in rig.messages
        if m["type"] == "agent.state" and m["agent_id"] == agent_id
    ]


async def test_an_agents_live_state_and_messages_name_its_server() -> None:
    config = make_config([sales()], [EAST_ADA, WEST_WES, DEFAULT_DEE])
    async with two_servers(config, login=["1001", "2001", "1002"]) as (rig, servers):
        snapshot = rig.service.snapshot()
        # Dee names no server: the first configured one (east), by its name.
        assert {a: live["server"] for a, live in snapshot["agents"].items()} == {
            "1001": "east",
            "2001": "west",
            "1002": "east",
        }
        live = rig.service.agent_live("2001")
        assert live is not None
        assert AgentLive.model_validate(live).server == "west"

        rig.service.arrive(caller_on("west", 1))
        [ring] = await servers.west.wait_rings(1)
        rig.answered(ring)
        await rig.service.logout("2001")  # applied when the call ends
        await rig.service.logout("1002")
        assert rig.service.agent_live("1002") is None
        assert state_servers(rig, "2001") == [
            ("available", "west"),
            ("reserved", "west"),
            ("on_call", "west"),
        ]
        # Logged out, the message still says where the agent was.
        assert state_servers(rig, "1002") == [("available", "east"), ("logged_out", "east")]
        # A webhook subscriber to agent.state is sent the same server.
        [wes_in, *_] = [
            m for m in rig.messages if m["type"] == "agent.state" and m["agent_id"] == "2001"
        ]
        event = from_message(wes_in, T0)
        assert event is not None
        assert orjson.loads(body(event))["data"]["server"] == "west"


async def test_with_one_server_an_agents_server_is_named_default() -> None:
    config = make_config([sales()], [DEFAULT_DEE])
    async with running_acd(config, login=["1002"]) as rig:
        live = rig.service.agent_live("1002")
        assert live is not None
        assert live["server"] == "default"
        assert state_servers(rig, "1002") == [("available", "default")]
