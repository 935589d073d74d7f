"""The dialer on two real Asterisk servers (tests/system/multiserverrig.py: ``east``, the
default, and ``west``): a progressive campaign on ``west`` dials every contact once
through west's Asterisk (its channels there, none on east), connects each answered
customer to west's agent only (east's agent, idle and in the same queue, is never rung),
and each call's CDR says ``west``. With west stopped, the default server's campaign goes
on dialing while west's waits; west's call cut by the outage is settled once west is back
and resynced, and no contact is dialed twice.

Agents are ``ccd-agents`` simulators (1xxx answer and talk ``TALK_S``), customers
``ccd-sim`` people (``+1612555…``); both instances carry the same shipped dialplan."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from ccd.acd.model import Queue
from ccd.db.dialer_store import DialerStore
from ccd.db.engine import create_engine
from ccd.dialer.model import Contact
from ccd.domain import contract
from ccd.domain.auth import Role
from tests.system.acdrig import _fetch, acd_database, config, sim_agent
from tests.system.conftest import PostgresCluster
from tests.system.dialerrig import (
    ALWAYS_OPEN,
    CALLEE_ZONE,
    CAMPAIGN,
    PERSON,
    QUEUE,
    RINGS,
    SAFE_HARBOR_PROMPT,
    add_contacts,
    number,
)
from tests.system.multiserverrig import MultiServerRun, Sandboxes, multi_server_daemon
from tests.system.waiting import eventually

TALK_S = 1
EAST_AGENT, WEST_AGENT = "1001", "1004"  # both answer (1xxx)


async def _attempts(run: MultiServerRun, campaign_id: str = CAMPAIGN) -> list[dict[str, Any]]:
    rows = await _fetch(
        run.database_url,
        "SELECT * FROM dialer_attempts WHERE campaign_id = $1 ORDER BY id",
        [campaign_id],
    )
    return [dict(row) for row in rows]


def _campaign(campaign_id: str, server: str | None, **fields: Any) -> dict[str, Any]:
    return {
        "id": campaign_id,
        "mode": "progressive",
        "caller_id": "+15550100",
        "queue_id": QUEUE,
        "windows": ALWAYS_OPEN,
        "ring_timeout_s": 15,
        "safe_harbor_prompt": SAFE_HARBOR_PROMPT,
        **({"server": server} if server is not None else {}),
        **fields,
    }


async def _contacts(
    database_url: str, campaign_id: str, numbers: list[str], first: int = 0
) -> list[str]:
    """The campaign's contacts (ids ``<campaign>-<n>`` from ``first``), due now."""
    engine = create_engine(database_url)
    try:
        contacts = [
            Contact(f"{campaign_id}-{i}", campaign_id, phone, (CALLEE_ZONE,))
            for i, phone in enumerate(numbers, start=first)
        ]
        await DialerStore(engine).add_contacts(campaign_id, contacts)
        return [contact.id for contact in contacts]
    finally:
        await engine.dispose()


async def _two_agents(run: MultiServerRun, sandboxes: Sandboxes) -> None:
    """Both agents logged in, the simulators' talk time set on both servers."""
    for server in sandboxes.names:
        await run.set_global(server, contract.VAR_SIM_TALK_S, str(TALK_S))
    for agent_id in (EAST_AGENT, WEST_AGENT):
        token = await run.token(Role.AGENT, agent_id)
        status, body = await run.api("POST", f"/api/v1/agents/{agent_id}/login", token=token)
        assert status in (200, 204), body


async def _database(cluster: PostgresCluster) -> str:
    """A migrated database with the queue and one agent on each server in it."""
    agents = [
        replace(sim_agent(EAST_AGENT), server="east"),
        replace(sim_agent(WEST_AGENT), server="west"),
    ]
    return await acd_database(
        cluster, config([Queue(id=QUEUE)], agents, {agent.id: [QUEUE] for agent in agents})
    )


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
    url = await _database(postgres_cluster)
    people = [number(PERSON, serial) for serial in range(1, 3)]
    async with multi_server_daemon(
        two_sandboxes,
        postgres_cluster,
        tmp_path,
        database_url=url,
        # No disposition posted: the wrap-up ends at once, the agent takes the next call.
        settings_env={"CCD_DIALER__MAX_WRAPUP_S": "0"},
    ) as run:
        await _two_agents(run, two_sandboxes)
        status, created = await run.api("POST", "/api/v1/campaigns", _campaign(CAMPAIGN, "west"))
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


async def test_west_down_holds_only_wests_campaign_and_it_dials_on_west_again_once_back(
    two_sandboxes: Sandboxes, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    url = await _database(postgres_cluster)
    async with multi_server_daemon(
        two_sandboxes,
        postgres_cluster,
        tmp_path,
        database_url=url,
        settings_env={"CCD_DIALER__MAX_WRAPUP_S": "0"},
    ) as run:
        await _two_agents(run, two_sandboxes)
        for campaign_id, server in (("westward", "west"), ("eastward", None)):
            body = _campaign(campaign_id, server, ring_timeout_s=60)
            status, created = await run.api("POST", "/api/v1/campaigns", body)
            assert status == 201, created
        # West's contact rings for ever: its call is up when west stops. The default
        # server's (east's) contacts are people who answer.
        [ringing_id] = await _contacts(url, "westward", [number(RINGS, 1)])
        east_ids = await _contacts(url, "eastward", [number(PERSON, 11)])
        status, body = await run.api("POST", "/api/v1/campaigns/westward/start")
        assert status == 200, body

        async def placed(campaign_id: str, count: int) -> list[dict[str, Any]] | None:
            rows = await _attempts(run, campaign_id)
            return rows if len(rows) >= count else None

        [ringing] = await eventually(
            lambda: placed("westward", 1), within_s=15, what="west's call placed", interval_s=0.2
        )
        await run.wait_heard(
            "west", lambda f: f.get("Uniqueid") == ringing["action_id"], what="on west"
        )
        await run.stop_server("west")
        status, body = await run.api("POST", "/api/v1/campaigns/eastward/start")
        assert status == 200, body

        # The default server's campaign dials all its contacts while west is down.
        async def east_done() -> list[dict[str, Any]] | None:
            rows = await _attempts(run, "eastward")
            done = len(rows) == len(east_ids) and all(r["ended_at"] is not None for r in rows)
            return rows if done else None

        east_rows = await eventually(
            east_done, within_s=30, what="east's campaign dialed while west is down", interval_s=0.2
        )
        assert [r["outcome"] for r in east_rows] == ["answered"] * len(east_ids), east_rows
        assert {r["agent_id"] for r in east_rows} == {EAST_AGENT}
        east_calls = {r["action_id"] for r in east_rows}
        assert {f["Uniqueid"] for f in _dialer_frames(run, "east")} >= east_calls
        status, readiness = await run.readiness()
        assert status == 503
        assert any(reason.startswith("ami west:") for reason in readiness["reasons"]), readiness

        # West back and resynced: its call, gone with west's Asterisk, is settled (never
        # answered), and west's campaign dials on west again: a new contact, a person,
        # connected to west's agent.
        await run.start_server("west")
        await run.wait_resynced("west")
        [new_id] = await _contacts(url, "westward", [number(PERSON, 21)], first=1)

        async def new_call_over() -> list[dict[str, Any]] | None:
            rows = await _attempts(run, "westward")
            return rows if len(rows) == 2 and rows[1]["ended_at"] is not None else None

        cut, again = await eventually(
            new_call_over, within_s=20, what="west's new call over", interval_s=0.2
        )
        assert (cut["contact_id"], again["contact_id"]) == (ringing_id, new_id)
        assert cut["ended_at"] is not None
        assert cut["outcome"] in ("failed", "no-answer"), cut  # never answered
        assert (again["outcome"], again["agent_id"]) == ("answered", WEST_AGENT), again
        await run.wait_heard(
            "west", lambda f: f.get("Uniqueid") == again["action_id"], what="again on west"
        )
        assert again["action_id"] not in {f["Uniqueid"] for f in _dialer_frames(run, "east")}
        # Nothing of east's on west; every contact dialed once.
        assert not east_calls & {f["Uniqueid"] for f in _dialer_frames(run, "west")}
        assert len(await _attempts(run, "eastward")) == len(east_ids)
