"""Every change made over the ACD API is in the audit trail (a real AuditStore on the same
SQLite database, read back through GET /api/v1/audit as an admin would): configuration
writes with the object before and after, agent actions with the actor and the agent's
state before and after. A refused change records nothing; a process without a trail
changes nothing; a trail failing after the change says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.acd_store import AcdStore
from ccd.db.audit_store import AuditStore
from ccd.db.engine import create_engine
from tests.integration.apifakes import Api, FakeAcdLive, running_api, send
from tests.integration.test_api_acd import _seeded_template

ADMIN = {"token_id": "t-admin", "role": "admin", "agent_id": None}
SUPERVISOR = {"token_id": "t-sup", "role": "supervisor", "agent_id": None}
AGENT_1001 = {"token_id": "t-agent", "role": "agent", "agent_id": "1001"}


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _seeded_template(tmp_path_factory.mktemp("acd-audit"))


@pytest.fixture
def live() -> FakeAcdLive:
    return FakeAcdLive(queues=["sales", "support"])


@pytest.fixture
async def api(engine: AsyncEngine, live: FakeAcdLive) -> AsyncIterator[Api]:
    async with running_api(
        acd_store=AcdStore(engine), acd_live=live, audit=AuditStore(engine)
    ) as api:
        yield api


async def _trail(api: Api, query: str = "") -> list[dict[str, Any]]:
    """The trail, oldest first."""
    status, body = await send(api, "GET", f"/api/v1/audit?limit=1000&{query}")
    assert status == 200, body
    return list(reversed(body["events"]))


async def test_agent_configuration_changes_are_audited_with_before_and_after(api: Api) -> None:
    created = {"id": "2001", "name": "Dana", "interface": "PJSIP/2001", "queues": ["sales"]}
    status, body = await send(api, "POST", "/api/v1/agents", body=created)
    assert status == 201, body
    status, updated = await send(
        api, "PUT", "/api/v1/agents/2001", body={"name": "Dana S.", "interface": "PJSIP/2001"}
    )
    assert status == 200, updated
    assert (await send(api, "DELETE", "/api/v1/agents/2001"))[0] == 204

    events = await _trail(api, "target_kind=agent&target_id=2001")
    assert [e["action"] for e in events] == ["agent.created", "agent.updated", "agent.deleted"]
    assert all(e["actor"] == ADMIN for e in events)
    create, update, delete = (e["detail"] for e in events)
    # The object's settings as the API shows them, without the ephemeral live state.
    settings = {k: v for k, v in body.items() if k != "live"}
    assert create == {"before": None, "after": settings}
    assert update["before"] == settings
    assert (update["after"]["name"], update["after"]["queues"]) == ("Dana S.", ["sales"])
    assert update["after"] == {k: v for k, v in updated.items() if k != "live"}
    assert delete == {"before": update["after"], "after": None}


@pytest.mark.parametrize(
    ("collection", "create", "item", "change", "kind", "changed"),
    [
        (
            "/api/v1/queues",
            {"id": "billing", "max_wait_s": 60},
            "/api/v1/queues/billing",
            {"strategy": "random"},
            "queue",
            ("strategy", "longest_idle", "random"),
        ),
        (
            "/api/v1/pause-reasons",
            {"code": "coaching", "label": "Coaching"},
            "/api/v1/pause-reasons/coaching",
            {"label": "1:1", "billable": True},
            "pause_reason",
            ("billable", False, True),
        ),
    ],
)
async def test_queue_and_pause_reason_changes_are_audited(
    api: Api,
    collection: str,
    create: dict[str, Any],
    item: str,
    change: dict[str, Any],
    kind: str,
    changed: tuple[str, object, object],
) -> None:
    status, created = await send(api, "POST", collection, body=create)
    assert status == 201, created
    status, updated = await send(api, "PUT", item, body=change)
    assert status == 200, updated
    assert (await send(api, "DELETE", item))[0] == 204

    key = item.rsplit("/", 1)[1]
    events = await _trail(api, f"target_kind={kind}&target_id={key}")
    assert [e["action"] for e in events] == [
        f"{kind}.created",
        f"{kind}.updated",
        f"{kind}.deleted",
    ]
    assert all(e["actor"] == ADMIN for e in events)
    create_detail, update_detail, delete_detail = (e["detail"] for e in events)
    assert create_detail["before"] is None
    assert create_detail["after"] == {k: v for k, v in created.items() if k != "live"}
    field, old, new = changed
    assert (update_detail["before"][field], update_detail["after"][field]) == (old, new)
    assert delete_detail == {"before": update_detail["after"], "after": None}


async def test_agent_actions_are_audited_with_the_actor_and_the_state(api: Api) -> None:
    steps: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("agent", "POST", "/api/v1/agents/1001/login", {"queues": ["support"]}),
        ("agent", "PUT", "/api/v1/agents/1001/queues/sales", None),
        ("agent", "POST", "/api/v1/agents/1001/pause", {"reason": "lunch"}),
        ("supervisor", "POST", "/api/v1/agents/1001/unpause", None),
        ("supervisor", "DELETE", "/api/v1/agents/1001/queues/support", None),
        ("agent", "POST", "/api/v1/agents/1001/logout", None),
    ]
    for role, method, path, body in steps:
        status, answer = await send(api, method, path, role, body)
        assert status == 200, (path, answer)

    events = await _trail(api, "target_kind=agent&target_id=1001")
    assert [(e["action"], e["actor"]) for e in events] == [
        ("agent.logged_in", AGENT_1001),
        ("agent.joined_queue", AGENT_1001),
        ("agent.paused", AGENT_1001),
        ("agent.unpaused", SUPERVISOR),
        ("agent.left_queue", SUPERVISOR),
        ("agent.logged_out", AGENT_1001),
    ]
    available = {"status": "available", "reason": None}
    assert [e["detail"] for e in events] == [
        {"queues": ["support"], "before": None, "after": {**available, "queues": ["support"]}},
        {
            "queue_id": "sales",
            "before": {**available, "queues": ["support"]},
            "after": {**available, "queues": ["sales", "support"]},
        },
        {
            "reason": "lunch",
            "before": {**available, "queues": ["sales", "support"]},
            "after": {"status": "paused", "reason": "lunch", "queues": ["sales", "support"]},
        },
        {
            "before": {"status": "paused", "reason": "lunch", "queues": ["sales", "support"]},
            "after": {**available, "queues": ["sales", "support"]},
        },
        {
            "queue_id": "support",
            "before": {**available, "queues": ["sales", "support"]},
            "after": {**available, "queues": ["sales"]},
        },
        {"before": {**available, "queues": ["sales"]}, "after": None},
    ]


async def test_a_login_to_the_configured_queues_is_audited_as_such(api: Api) -> None:
    assert (await send(api, "POST", "/api/v1/agents/1001/login", "agent"))[0] == 200
    (event,) = await _trail(api, "action=agent.logged_in")
    assert event["detail"]["queues"] is None  # none asked: the agent's configured queues


async def test_refused_changes_record_nothing(api: Api, live: FakeAcdLive) -> None:
    refused = [
        # The ACD refuses: not logged in.
        ("agent", "POST", "/api/v1/agents/1001/unpause", None, 409),
        ("agent", "POST", "/api/v1/agents/1001/pause", {"reason": "smoke"}, 422),
        ("agent", "POST", "/api/v1/agents/1002/login", None, 403),
        ("agent", "PUT", "/api/v1/agents/1001/queues/ghost", None, 404),
        ("admin", "POST", "/api/v1/agents", {"id": "1001", "interface": "PJSIP/1001"}, 409),
        ("admin", "PUT", "/api/v1/agents/ghost", {"interface": "PJSIP/1"}, 404),
        ("admin", "PUT", "/api/v1/queues/sales", {"overflow_target": "queue:ghost"}, 422),
        ("admin", "POST", "/api/v1/queues", {"id": "sales"}, 409),
        ("admin", "DELETE", "/api/v1/pause-reasons/no-answer", None, 409),
        ("supervisor", "POST", "/api/v1/pause-reasons", {"code": "x"}, 403),
    ]
    for role, method, path, body, expected in refused:
        status, problem = await send(api, method, path, role, body)
        assert status == expected, (path, problem)
    assert await _trail(api) == []
    assert live.reloads == 0


async def test_without_a_trail_nothing_is_changed(engine: AsyncEngine, live: FakeAcdLive) -> None:
    async with running_api(acd_store=AcdStore(engine), acd_live=live) as api:
        status, problem = await send(
            api, "POST", "/api/v1/agents", body={"id": "2001", "interface": "PJSIP/2001"}
        )
        assert status == 503
        assert "audit trail" in problem["detail"]
        assert (await send(api, "GET", "/api/v1/agents/2001"))[0] == 404
        assert (await send(api, "DELETE", "/api/v1/pause-reasons/lunch"))[0] == 503
        listing = (await send(api, "GET", "/api/v1/pause-reasons"))[1]["pause_reasons"]
        assert "lunch" in [reason["code"] for reason in listing]
        status, problem = await send(api, "POST", "/api/v1/agents/1001/login", "agent")
        assert status == 503
        # A bad request is answered as it would be with a trail.
        status, _ = await send(api, "POST", "/api/v1/agents/1001/pause", "agent", {})
        assert status == 422
    assert live.calls == []


async def test_a_trail_failing_after_the_change_is_a_503_saying_it_was_done(
    engine: AsyncEngine, live: FakeAcdLive, tmp_path: Path
) -> None:
    # Never migrated: the trail exists but every write to it fails in the driver.
    broken = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-audit.sqlite3'}")
    try:
        async with running_api(
            acd_store=AcdStore(engine), acd_live=live, audit=AuditStore(broken)
        ) as api:
            status, problem = await send(
                api, "POST", "/api/v1/pause-reasons", body={"code": "coaching"}
            )
            assert status == 503
            assert problem["type"] == "urn:ccd:problem:upstream-unavailable"
            assert problem["detail"] == (
                "pause_reason.created 'coaching' was done, but the audit trail is"
                " unavailable: it was not recorded"
            )
            # Done: stored and the running ACD told.
            assert (await send(api, "GET", "/api/v1/pause-reasons"))[1]["pause_reasons"][0][
                "code"
            ] == "coaching"
            assert live.reloads == 1

            status, problem = await send(api, "POST", "/api/v1/agents/1001/login", "agent")
            assert status == 503
            assert problem["detail"].startswith("agent.logged_in '1001' was done")
            assert live.agents["1001"]["state"] == "available"
    finally:
        await broken.dispose()
