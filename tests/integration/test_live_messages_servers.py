"""The server in what integrators and wallboards read live, through the whole daemon with
two Asterisk servers (paris first, then lyon; two fake AMI servers on 127.0.0.1): an
agent's ``live`` state over REST, the websocket's snapshot, its ``agent.state`` and
``campaign.*`` messages and the wallboard's agent rows each name the server the agent or
campaign is on — an agent or a campaign naming none is on the first server, paris."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ccd.acd.model import Agent, PauseReason, Queue
from ccd.acd.seed import AcdConfig
from ccd.app import Daemon
from ccd.db.acd_store import AcdStore
from ccd.db.engine import create_engine
from ccd.domain.auth import Role
from tests.fakeami import FakeAmi
from tests.integration.fleetrig import fake_asterisk, two_server_daemon

SECRET = "s3cret"
PARIS_AGENT = Agent("1001", "PJSIP/1001", name="Paule", server="paris")
LYON_AGENT = Agent("2001", "PJSIP/2001", name="Lucien", server="lyon")
NO_SERVER_AGENT = Agent("1002", "PJSIP/1002", name="Noé")
AGENTS = (PARIS_AGENT, LYON_AGENT, NO_SERVER_AGENT)


@pytest.fixture
async def paris() -> AsyncIterator[FakeAmi]:
    async with fake_asterisk(secret=SECRET, system_name="pbx-p") as server:
        yield server


@pytest.fixture
async def lyon() -> AsyncIterator[FakeAmi]:
    async with fake_asterisk(secret=SECRET, system_name="pbx-l") as server:
        yield server


async def _seed(url: str) -> None:
    engine = create_engine(url)
    try:
        await AcdStore(engine).apply_seed(
            AcdConfig(
                agents={a.id: a for a in AGENTS},
                queues={"sales": Queue("sales")},
                pause_reasons={"lunch": PauseReason("lunch", "Lunch")},
                memberships={a.id: frozenset({"sales"}) for a in AGENTS},
            )
        )
    finally:
        await engine.dispose()


@pytest.fixture
async def daemon(paris: FakeAmi, lyon: FakeAmi, tmp_path: Path) -> AsyncIterator[Daemon]:
    environ = {"CCD_AMI__SECRET": SECRET}
    async with two_server_daemon(paris, lyon, tmp_path, environ=environ, seed=_seed) as running:
        yield running


@pytest.fixture
async def http(daemon: Daemon) -> AsyncIterator[aiohttp.ClientSession]:
    _, token = await daemon.components.tokens.create(Role.SUPERVISOR, label="wallboard")
    base = f"http://127.0.0.1:{daemon.http_port}"
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url=base, headers=headers) as session:
        yield session


async def _next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next websocket message of type ``kind`` (others, e.g. call changes, skipped)."""
    while True:
        message = json.loads(await ws.receive_str(timeout=5))
        if message["type"] == kind:
            return dict(message)


async def test_an_agents_live_state_names_its_server_over_rest_and_the_websocket(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    acd = daemon.components.acd
    await acd.login(PARIS_AGENT.id, None)
    await acd.login(NO_SERVER_AGENT.id, None)
    async with http.ws_connect("/api/v1/events") as ws:
        snapshot = await _next_of(ws, "snapshot")
        agents = snapshot["acd"]["agents"]
        assert {agent_id: live["server"] for agent_id, live in agents.items()} == {
            "1001": "paris",
            "1002": "paris",  # no server of its own: the first configured one
        }

        async with http.post("/api/v1/agents/2001/login") as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["live"]["server"] == "lyon"
        message = await _next_of(ws, "agent.state")
        assert (message["agent_id"], message["status"], message["server"]) == (
            "2001",
            "available",
            "lyon",
        )

    async with http.get("/api/v1/agents/2001") as response:
        assert response.status == 200
        assert (await response.json())["live"]["server"] == "lyon"
    async with http.get("/api/v1/agents/1002") as response:
        assert (await response.json())["live"]["server"] == "paris"
    async with http.get("/api/v1/wallboard") as response:
        assert response.status == 200, await response.text()
        rows = (await response.json())["agents"]
        assert {row["id"]: row["server"] for row in rows} == {
            "1001": "paris",
            "1002": "paris",
            "2001": "lyon",
        }


async def test_a_campaigns_state_message_names_its_server(
    daemon: Daemon, http: aiohttp.ClientSession
) -> None:
    body = {"mode": "progressive", "caller_id": "+12125550100", "queue_id": "sales"}
    async with http.ws_connect("/api/v1/events") as ws:
        await _next_of(ws, "snapshot")
        for campaign_id, server in (("spring", "lyon"), ("autumn", None)):
            created = {"id": campaign_id, **body, "server": server}
            async with http.post("/api/v1/campaigns", json=created) as response:
                assert response.status == 201, await response.text()
            async with http.post(f"/api/v1/campaigns/{campaign_id}/start") as response:
                assert response.status == 200, await response.text()
            seen = [await _next_of(ws, "campaign.state") for _ in range(2)]
            # No server of its own: the first configured one, by its name.
            assert [(m["campaign_id"], m["state"], m["server"]) for m in seen] == [
                (campaign_id, "draft", server or "paris"),
                (campaign_id, "running", server or "paris"),
            ]
