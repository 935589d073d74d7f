"""ccd's queues on two real Asterisk servers (tests/system/multiserverrig.py: ``east``,
the default, and ``west``): queues are per server. A caller waiting on one server is
offered only agents whose device is on that server — an idle agent on the other server
is never rung — each caller is connected to its own server's agent through that
server's Asterisk, and each call has one CDR carrying its server.

Agents are ``ccd-agents`` simulators (1xxx answer and talk ``TALK_S``); both instances
carry the same shipped dialplan, so ``Local/1001@ccd-agents`` on west is west's phone."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

from ccd.acd.model import PauseReason, Queue
from ccd.domain import contract
from ccd.domain.auth import Role
from tests.system.acdrig import NO_ANSWER, acd_database, config, sim_agent
from tests.system.conftest import PostgresCluster
from tests.system.multiserverrig import MultiServerRun, Sandboxes, multi_server_daemon
from tests.system.waiting import eventually

TALK_S = 2
QUEUE = "sales"
EAST_AGENT, WEST_AGENT = "1001", "1004"  # both answer (1xxx)
LUNCH = PauseReason("lunch", "Lunch")


def _agent_rings(run: MultiServerRun, server: str, agent_id: str) -> list[dict[str, str]]:
    """Every ring of agent ``agent_id``'s phone on ``server``'s Asterisk: the ``;1`` half
    of each Local channel it created for it (one per Originate)."""
    phone = f"Local/{agent_id}@{contract.AGENT_SIM_CONTEXT}-"
    return [
        dict(frame)
        for frame in run.heard[server]
        if frame.get("Event") == "Newchannel"
        and frame.get("Channel", "").startswith(phone)
        and frame.get("Channel", "").endswith(";1")
    ]


async def _agent(run: MultiServerRun, agent_id: str) -> dict[str, Any]:
    status, body = await run.api("GET", f"/api/v1/agents/{agent_id}")
    assert status == 200, body
    agent: dict[str, Any] = body
    return agent


async def _status(run: MultiServerRun, agent_id: str) -> str | None:
    live = (await _agent(run, agent_id))["live"]
    return None if live is None else str(live["status"])


async def _waiting(run: MultiServerRun) -> list[dict[str, Any]]:
    status, body = await run.api("GET", f"/api/v1/queues/{QUEUE}")
    assert status == 200, body
    callers: list[dict[str, Any]] = body["live"]["callers"]
    return callers


async def test_callers_ring_only_their_own_servers_agent(
    two_sandboxes: Sandboxes, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agents = [
        replace(sim_agent(EAST_AGENT), server="east"),
        replace(sim_agent(WEST_AGENT), server="west"),
    ]
    url = await acd_database(
        postgres_cluster,
        config(
            [Queue(id=QUEUE)],
            agents,
            {agent.id: [QUEUE] for agent in agents},
            pause_reasons=(NO_ANSWER, LUNCH),
        ),
    )
    async with multi_server_daemon(
        two_sandboxes, postgres_cluster, tmp_path, database_url=url
    ) as run:
        for server in two_sandboxes.names:
            await run.set_global(server, contract.VAR_SIM_TALK_S, str(TALK_S))
        for agent in agents:
            token = await run.token(Role.AGENT, agent.id)
            status, body = await run.api("POST", f"/api/v1/agents/{agent.id}/login", token=token)
            assert status in (200, 204), body
        assert (await _agent(run, WEST_AGENT))["server"] == "west"

        # East's agent is away: an east caller waits, though west's agent is idle.
        status, body = await run.api(
            "POST", f"/api/v1/agents/{EAST_AGENT}/pause", {"reason": "lunch"}
        )
        assert status == 200, body
        east_caller = await run.caller_in_queue("east", QUEUE, number="5550201")

        async def east_caller_waits() -> list[dict[str, Any]] | None:
            callers = await _waiting(run)
            return callers or None

        [waiting] = await eventually(east_caller_waits, within_s=15, what="the east caller waits")
        assert (waiting["call_id"], waiting["server"]) == (east_caller, "east")
        # A few ticks of the ACD later, still nobody rung: west's agent is on west.
        await run.wait_heard(
            "east",
            lambda f: f.get("Event") == "AGIExecStart" and f.get("Linkedid") == east_caller,
            what="the east caller's queue session",
        )
        await asyncio.sleep(1.0)  # four ACD ticks
        assert await _status(run, WEST_AGENT) == "available"
        assert _agent_rings(run, "west", WEST_AGENT) == []
        assert [c["ringing"] for c in await _waiting(run)] == [[]]

        # A west caller meanwhile: west's idle agent takes it at once.
        west_caller = await run.caller_in_queue("west", QUEUE, number="5550202")

        async def west_on_call() -> bool:
            return await _status(run, WEST_AGENT) == "on_call"

        await eventually(west_on_call, within_s=15, what="west's agent connected")
        assert (await _agent(run, WEST_AGENT))["live"]["call_id"] == west_caller
        # The east caller is still waiting for east's agent alone.
        assert [(c["call_id"], c["server"]) for c in await _waiting(run)] == [(east_caller, "east")]

        # East's agent is back: rung on east, connected to the east caller.
        status, body = await run.api("POST", f"/api/v1/agents/{EAST_AGENT}/unpause")
        assert status == 200, body

        async def east_on_call() -> bool:
            return await _status(run, EAST_AGENT) == "on_call"

        await eventually(east_on_call, within_s=15, what="east's agent connected")
        assert (await _agent(run, EAST_AGENT))["live"]["call_id"] == east_caller
        await run.settled(within_s=30)

        # Each agent's phone rang on its own server only, once.
        assert len(_agent_rings(run, "east", EAST_AGENT)) == 1
        assert len(_agent_rings(run, "west", WEST_AGENT)) == 1
        assert _agent_rings(run, "west", EAST_AGENT) == []
        assert _agent_rings(run, "east", WEST_AGENT) == []

        # One CDR per call, with its server, queue and agent.
        for call_id, server, agent_id in (
            (east_caller, "east", EAST_AGENT),
            (west_caller, "west", WEST_AGENT),
        ):
            [cdr] = await run.cdrs_of(call_id)
            assert (cdr["server"], cdr["queue"], cdr["agent_id"], cdr["disposition"]) == (
                server,
                QUEUE,
                agent_id,
                "answered",
            ), cdr
        assert [row["linkedid"] for row in await run.cdrs(server="west")] == [west_caller]
        assert [row["linkedid"] for row in await run.cdrs(server="east")] == [east_caller]
