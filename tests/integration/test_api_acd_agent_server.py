"""An agent's Asterisk server over the ACD API (two servers configured, "east" first):
create, update and list carry it, a name that is not configured or not a name is a 422
naming ``server`` that changes nothing, and the audit trail records it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.acd_store import AcdStore
from ccd.db.audit_store import AuditStore
from tests.integration.apifakes import Api, FakeAcdLive, error_fields, running_api, send
from tests.integration.test_api_acd import _seeded_template


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _seeded_template(tmp_path_factory.mktemp("acd-agent-server"))


@pytest.fixture
def live() -> FakeAcdLive:
    return FakeAcdLive(queues=["sales", "support"])


@pytest.fixture
async def api(engine: AsyncEngine, live: FakeAcdLive) -> AsyncIterator[Api]:
    async with running_api(
        acd_store=AcdStore(engine),
        acd_live=live,
        audit=AuditStore(engine),
        asterisk_servers=("east", "west"),
    ) as api:
        yield api


async def _trail(api: Api) -> list[dict[str, Any]]:
    status, body = await send(api, "GET", "/api/v1/audit?target_kind=agent&target_id=2001")
    assert status == 200, body
    return list(reversed(body["events"]))


async def test_an_agents_server_is_created_listed_changed_and_audited(
    api: Api, live: FakeAcdLive
) -> None:
    created = {"id": "2001", "name": "Wes", "interface": "PJSIP/2001", "server": "west"}
    status, body = await send(api, "POST", "/api/v1/agents", body=created)
    assert status == 201, body
    assert body["server"] == "west"

    status, listing = await send(api, "GET", "/api/v1/agents", "supervisor")
    assert status == 200
    servers = {a["id"]: a["server"] for a in listing["agents"]}
    # The seeded agents name none: they are on the first server.
    assert servers == {"1001": None, "1002": None, "1003": None, "2001": "west"}

    change = {"name": "Wes", "interface": "PJSIP/2001", "server": "east"}
    status, updated = await send(api, "PUT", "/api/v1/agents/2001", body=change)
    assert status == 200, updated
    assert updated["server"] == "east"
    # PUT replaces the settings: no server is the first server again.
    status, back = await send(
        api, "PUT", "/api/v1/agents/2001", body={"name": "Wes", "interface": "PJSIP/2001"}
    )
    assert status == 200, back
    assert back["server"] is None
    assert live.reloads == 3

    create, update, reset = (event["detail"] for event in await _trail(api))
    assert create["after"]["server"] == "west"
    assert (update["before"]["server"], update["after"]["server"]) == ("west", "east")
    assert (reset["before"]["server"], reset["after"]["server"]) == ("east", None)


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("north", "no Asterisk server named 'north' (configured: east, west)"),
        ("default", "no Asterisk server named 'default' (configured: east, west)"),
        ("West", "String should match pattern"),
        ("east\r\nAction: Originate", "must not contain CR, LF or NUL characters"),
    ],
)
async def test_a_server_that_is_not_configured_is_refused_naming_the_field(
    api: Api, live: FakeAcdLive, server: str, message: str
) -> None:
    body = {"id": "2001", "interface": "PJSIP/2001", "server": server}
    status, problem = await send(api, "POST", "/api/v1/agents", body=body)
    assert status == 422, problem
    assert error_fields(problem) == {"server"}
    assert any(message in error["message"] for error in problem["errors"])

    status, problem = await send(
        api, "PUT", "/api/v1/agents/1001", body={"interface": "PJSIP/1001", "server": server}
    )
    assert status == 422, problem
    assert error_fields(problem) == {"server"}

    assert live.reloads == 0
    assert (await send(api, "GET", "/api/v1/agents/2001"))[0] == 404
    status, agent = await send(api, "GET", "/api/v1/agents/1001")
    assert agent["server"] is None
    assert await _trail(api) == []
