"""The dialer on two real Asterisk servers (tests/system/multiserverrig.py: ``east``, the
default, and ``west``): a progressive campaign on ``west`` dials every contact once
through west's Asterisk (its channels there, none on east), connects each answered
customer to west's agent only (east's agent, idle and in the same queue, is never rung),
and each call's CDR says ``west``.

Agents are ``ccd-agents`` simulators (1xxx answer and talk ``TALK_S``), customers
``ccd-sim`` people (``+1612555…``); both instances carry the same shipped dialplan."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from ccd.acd.model import Queue
from ccd.domain import contract
from ccd.domain.auth import Role
from tests.system.acdrig import _fetch, acd_database, config, sim_agent
from tests.system.conftest import PostgresCluster
from tests.system.dialerrig import (
    ALWAYS_OPEN,
    CAMPAIGN,
    PERSON,
    QUEUE,
    SAFE_HARBOR_PROMPT,
    add_contacts,
    number,
)
from tests.system.multiserverrig import MultiServerRun, Sandboxes, multi_server_daemon
from tests.system.waiting import eventually

TALK_S = 1
EAST_AGENT, WEST_AGENT = "1001", "1004"  # both answer (1xxx)


async def _attempts(run: MultiServerRun) -> list[dict[str, Any]]:
    rows = await _fetch(
        run.database_url,
        "SELECT * FROM dialer_attempts WHERE campaign_id = $1 ORDER BY id",
        [CAMPAIGN],
    )
    return [dict(row) for row in rows]


def _dialer_frames(run: MultiServerRun, server: str) -> list[dict[str, str]]:
    """Every AMI event ``server``'s Asterisk sent about a dialer channel (its uniqueid or
    linkedid is a ``ccd-dial-…`` id ccd chose at the Originate)."""
    return [
        dict(frame)
        for frame in run.heard[server]
        if frame.get("Uniqueid", "").startswith("ccd-dial-")
        or frame.get("Linkedid", "").startswith("ccd-dial-")
    ]


async def test_a_progressive_campaign_on_west_dials_and_connects_on_west_only(
    two_sandboxes: Sandboxes, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    agents = [
        replace(sim_agent(EAST_AGENT), server="east"),
        replace(sim_agent(WEST_AGENT), server="west"),
    ]
    url = await acd_database(
        postgres_cluster,
        config([Queue(id=QUEUE)], agents, {agent.id: [QUEUE] for agent in agents}),
    )
    people = [number(PERSON, serial) for serial in range(1, 4)]
    async with multi_server_daemon(
        two_sandboxes,
        postgres_cluster,
        tmp_path,
        database_url=url,
        # No disposition posted: the wrap-up ends at once, the agent takes the next call.
        settings_env={"CCD_DIALER__MAX_WRAPUP_S": "0"},
    ) as run:
        for server in two_sandboxes.names:
            await run.set_global(server, contract.VAR_SIM_TALK_S, str(TALK_S))
        for agent in agents:
            token = await run.token(Role.AGENT, agent.id)
            status, body = await run.api("POST", f"/api/v1/agents/{agent.id}/login", token=token)
            assert status in (200, 204), body
        status, created = await run.api(
            "POST",
            "/api/v1/campaigns",
            {
                "id": CAMPAIGN,
                "mode": "progressive",
                "caller_id": "+15550100",
                "queue_id": QUEUE,
                "windows": ALWAYS_OPEN,
                "ring_timeout_s": 15,
                "safe_harbor_prompt": SAFE_HARBOR_PROMPT,
                "server": "west",
            },
        )
        assert status == 201, created
        assert created["server"] == "west"
        ids = await add_contacts(run.database_url, people)

        # What each Asterisk has while the campaign dials (its CLI, not ccd's view).
        seen: dict[str, set[str]] = {server: set() for server in two_sandboxes.names}

        async def watch() -> None:
            while True:
                for server in two_sandboxes.names:
                    seen[server].update(await run.channels_on(server))
                await asyncio.sleep(0.3)

        watcher = asyncio.create_task(watch())
        try:
            status, body = await run.api("POST", f"/api/v1/campaigns/{CAMPAIGN}/start")
            assert status == 200, body

            async def all_ended() -> bool:
                rows = await _attempts(run)
                return {row["contact_id"] for row in rows} == set(ids) and all(
                    row["ended_at"] is not None for row in rows
                )

            await eventually(all_ended, within_s=40, what="every contact dialed, calls over")
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await run.settled()

        attempts = await _attempts(run)
        # Every contact dialed once, each answered and connected to west's agent.
        assert sorted(row["contact_id"] for row in attempts) == sorted(ids)
        assert [row["outcome"] for row in attempts] == ["answered"] * len(ids), attempts
        assert {row["agent_id"] for row in attempts} == {WEST_AGENT}
        calls = {row["action_id"] for row in attempts}

        # West's Asterisk had the customer legs and west's agent's rings; east had none.
        assert all(f"Local/{phone}@ccd-dialer" in " ".join(seen["west"]) for phone in people)
        assert any(f"Local/{WEST_AGENT}@" in name for name in seen["west"]), seen["west"]
        assert not [n for n in seen["east"] if "ccd-dialer" in n or "@ccd-agents" in n], seen
        assert {f["Uniqueid"] for f in _dialer_frames(run, "west")} >= calls
        assert _dialer_frames(run, "east") == []
        assert not any(
            frame.get("Event") == "Newchannel"
            and f"Local/{EAST_AGENT}@" in frame.get("Channel", "")
            for frame in run.heard["east"]
        ), "east's agent was rung"

        # One CDR per call, each on west; east's list has none of them.
        for call in calls:
            [cdr] = await run.cdrs_of(call)
            assert (cdr["server"], cdr["campaign_id"], cdr["agent_id"]) == (
                "west",
                CAMPAIGN,
                WEST_AGENT,
            )
        assert not calls & {row["linkedid"] for row in await run.cdrs(server="east")}
