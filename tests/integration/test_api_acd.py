"""The ACD REST API against a real SQLite database (migrated, seeded with the sample seed
file) and a FakeAcdLive standing in for the running ACD, served on a real 127.0.0.1 port.
Every change is audited in a real AuditStore on the same database (test_api_acd_audit)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.acd.seed import load_seed
from ccd.db.acd_store import AcdStore, SessionEntry
from ccd.db.audit_store import AuditStore
from ccd.db.engine import create_engine
from tests.integration.apifakes import Api, FakeAcdLive, error_fields, running_api, send
from tests.integration.authmatrix import (
    ACD_ENDPOINTS,
    IDENTITIES,
    call,
    expected_status,
    headers_for,
)
from tests.integration.sqlitedb import SAMPLE_SEED, build_template

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
WRITES = {"POST", "PUT", "DELETE"}
AGENT_ACTIONS = {
    "agents.login",
    "agents.logout",
    "agents.pause",
    "agents.unpause",
    "agents.join",
    "agents.leave",
}


def _seeded_template(directory: Path) -> Path:
    path = build_template(directory)

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await AcdStore(engine).apply_seed(load_seed(SAMPLE_SEED))
        finally:
            await engine.dispose()

    asyncio.run(seed())
    return path


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The migrated database with the sample seed applied: here, conftest's ``engine``
    copies this one."""
    return _seeded_template(tmp_path_factory.mktemp("acd-api"))


@pytest.fixture
def store(engine: AsyncEngine) -> AcdStore:
    return AcdStore(engine)


@pytest.fixture
def live() -> FakeAcdLive:
    return FakeAcdLive(queues=["sales", "support"])


@pytest.fixture
def audit(engine: AsyncEngine) -> AuditStore:
    return AuditStore(engine)


@pytest.fixture
async def api(store: AcdStore, live: FakeAcdLive, audit: AuditStore) -> AsyncIterator[Api]:
    async with running_api(acd_store=store, acd_live=live, audit=audit) as api:
        yield api


# --- roles -------------------------------------------------------------------------------


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(ACD_ENDPOINTS))
async def test_auth_matrix(
    route: str, identity: str, store: AcdStore, live: FakeAcdLive, audit: AuditStore
) -> None:
    endpoint = ACD_ENDPOINTS[route]
    live.agents["1001"] = {"state": "available", "reason": None, "queues": {"sales"}}
    async with running_api(acd_store=store, acd_live=live, audit=audit) as api:
        status = await call(api, endpoint, headers_for(identity))
    assert status == expected_status(endpoint, identity)
    if status in (401, 403):
        # A refused caller changed nothing: no action reached the ACD, no reload.
        assert live.calls == []
    elif route in AGENT_ACTIONS:
        assert live.calls[-1][:2] == (route.removeprefix("agents."), "1001")
    elif endpoint.method in WRITES:
        assert live.calls == [("reload_config",)]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/agents/1002", None),
        ("POST", "/api/v1/agents/1002/login", None),
        ("POST", "/api/v1/agents/1002/logout", None),
        ("POST", "/api/v1/agents/1002/pause", {"reason": "lunch"}),
        ("POST", "/api/v1/agents/1002/unpause", None),
        ("PUT", "/api/v1/agents/1002/queues/sales", None),
        ("DELETE", "/api/v1/agents/1002/queues/sales", None),
        ("GET", "/api/v1/agents/1002/sessions", None),
        # An id that does not exist is still someone else's: 403, not 404.
        ("POST", "/api/v1/agents/9999/login", None),
    ],
)
async def test_agent_cannot_act_on_another_agent(
    api: Api, live: FakeAcdLive, method: str, path: str, body: object
) -> None:
    status, problem = await send(api, method, path, "agent", body)
    assert status == 403
    assert problem["detail"] == "agents may only act on their own agent id"
    assert live.calls == []


# --- configuration round trips -----------------------------------------------------------


async def test_agent_crud_round_trip_reloads_the_acd(api: Api, live: FakeAcdLive) -> None:
    created = {
        "id": "2001",
        "name": "Dana",
        "interface": "PJSIP/2001",
        "skills": {"sales": 7},
        "queues": ["sales"],
    }
    status, body = await send(api, "POST", "/api/v1/agents", body=created)
    assert status == 201, body
    assert body["id"] == "2001"
    assert body["skills"] == {"sales": 7}
    assert body["queues"] == ["sales"]
    assert body["max_calls"] == 1
    assert body["live"] is None  # not logged in
    assert live.reloads == 1

    status, fetched = await send(api, "GET", "/api/v1/agents/2001", "supervisor")
    assert status == 200
    assert fetched == body

    change = {"name": "Dana S.", "interface": "Local/2001@ccd-agents", "skills": {"support": 4}}
    status, updated = await send(api, "PUT", "/api/v1/agents/2001", body=change)
    assert status == 200, updated
    assert (updated["name"], updated["interface"]) == ("Dana S.", "Local/2001@ccd-agents")
    assert updated["skills"] == {"support": 4}
    assert updated["queues"] == ["sales"]  # no "queues" in the body: memberships kept
    assert live.reloads == 2

    status, listing = await send(api, "GET", "/api/v1/agents")
    assert [a["id"] for a in listing["agents"]] == ["1001", "1002", "1003", "2001"]

    assert (await send(api, "DELETE", "/api/v1/agents/2001"))[0] == 204
    assert live.reloads == 3
    status, problem = await send(api, "GET", "/api/v1/agents/2001")
    assert status == 404
    assert problem["detail"] == "no agent '2001'"


async def test_queue_views_carry_live_state(api: Api, live: FakeAcdLive) -> None:
    live.agents["1001"] = {"state": "available", "reason": None, "queues": {"sales"}}
    status, body = await send(api, "GET", "/api/v1/queues/sales", "supervisor")
    assert status == 200
    assert body["strategy"] == "longest_idle"
    assert body["max_wait_s"] == 120.0
    assert body["overflow_target"] == "voicemail:1000@default"
    assert body["live"]["queue_id"] == "sales"
    assert (body["live"]["waiting"], body["live"]["callers"]) == (0, [])
    assert body["live"]["agents"] == {"available": 1}
    assert body["live"]["agents_by_id"] == {"1001": "available"}
    status, listing = await send(api, "GET", "/api/v1/queues")
    support = next(q for q in listing["queues"] if q["id"] == "support")
    assert support["required_skills"] == {"support": 3}
    assert support["escalated_skills"] == {"support": 1}
    assert support["callback_key"] == "1"
    agent = (await send(api, "GET", "/api/v1/agents/1001", "agent"))[1]
    assert agent["live"] == {
        "status": "available",
        "since": "2026-11-25T09:00:00+00:00",
        "in_state_s": 0.0,
        "reason": None,
        "call_id": None,
        "queues": ["sales"],
        "calls_taken": 0,
        "talk_s": 0.0,
        "pending_pause": None,
        "logout_pending": False,
        "server": "default",
    }


async def test_without_a_running_acd_live_is_null_and_actions_are_503(
    store: AcdStore, audit: AuditStore
) -> None:
    async with running_api(acd_store=store, audit=audit) as api:
        status, body = await send(api, "GET", "/api/v1/queues/sales")
        assert (status, body["live"]) == (200, None)
        status, body = await send(api, "GET", "/api/v1/agents/1001")
        assert (status, body["live"]) == (200, None)
        # Writes still work (stored for the next start).
        assert (await send(api, "POST", "/api/v1/pause-reasons", body={"code": "x"}))[0] == 201
        status, problem = await send(api, "POST", "/api/v1/agents/1001/login")
        assert status == 503
        assert problem["detail"] == "the ACD is not running in this process"


async def test_without_a_store_config_routes_are_503() -> None:
    async with running_api() as api:
        status, problem = await send(api, "GET", "/api/v1/agents")
        assert status == 503
        assert "store" in problem["detail"]


async def test_queue_crud_and_references(api: Api, live: FakeAcdLive) -> None:
    queue = {
        "id": "billing",
        "strategy": "round_robin",
        "ring_timeout_s": 20,
        "overflow_target": "queue:support",
        "escalate_after_s": 45,
        "escalate_to_queue": "sales",
    }
    status, body = await send(api, "POST", "/api/v1/queues", body=queue)
    assert status == 201, body
    assert body["ring_timeout_s"] == 20.0
    assert body["escalate_to_queue"] == "sales"

    status, problem = await send(api, "POST", "/api/v1/queues", body=queue)
    assert status == 409
    assert problem["detail"] == "queue 'billing' already exists"

    # support is billing's overflow now: deleting it is refused and says by whom.
    status, problem = await send(api, "DELETE", "/api/v1/queues/support")
    assert status == 409
    assert "queue 'billing' (overflow_target)" in problem["detail"]

    status, problem = await send(
        api, "PUT", "/api/v1/queues/billing", body={"overflow_target": "queue:ghost"}
    )
    assert status == 422
    assert problem["errors"] == [{"field": "overflow_target", "message": "unknown queue 'ghost'"}]

    status, body = await send(api, "PUT", "/api/v1/queues/billing", body={"strategy": "random"})
    assert (status, body["strategy"], body["overflow_target"]) == (200, "random", None)
    assert (await send(api, "DELETE", "/api/v1/queues/billing"))[0] == 204
    assert (await send(api, "GET", "/api/v1/queues/billing"))[0] == 404
    assert live.reloads == 3  # create, update, delete; refused writes do not reload


async def test_pause_reason_crud(api: Api, live: FakeAcdLive) -> None:
    status, body = await send(
        api,
        "POST",
        "/api/v1/pause-reasons",
        body={"code": "coaching", "label": "Coaching", "billable": True, "time_limit_s": 900},
    )
    assert status == 201
    assert body == {
        "code": "coaching",
        "label": "Coaching",
        "billable": True,
        "time_limit_s": 900.0,
    }
    status, body = await send(api, "PUT", "/api/v1/pause-reasons/coaching", body={"label": "1:1"})
    assert body == {"code": "coaching", "label": "1:1", "billable": False, "time_limit_s": None}
    status, listing = await send(api, "GET", "/api/v1/pause-reasons", "agent")
    assert [r["code"] for r in listing["pause_reasons"]] == [
        "coaching",
        "lunch",
        "no-answer",
        "training",
    ]
    status, problem = await send(api, "DELETE", "/api/v1/pause-reasons/no-answer")
    assert status == 409
    assert "cannot be deleted" in problem["detail"]
    assert (await send(api, "DELETE", "/api/v1/pause-reasons/coaching"))[0] == 204
    assert (await send(api, "DELETE", "/api/v1/pause-reasons/coaching"))[0] == 404
    assert live.reloads == 3


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        (
            "/api/v1/agents",
            {"id": "bad id", "interface": "PJSIP/1001,PJSIP/1002", "skills": {"x": 11}},
            {"id", "interface", "skills.x"},
        ),
        ("/api/v1/agents", {"id": "2001"}, {"interface"}),
        ("/api/v1/agents", {"id": "2001", "interface": "PJSIP/2001", "colour": 1}, {"colour"}),
        ("/api/v1/agents", {"id": "2001", "interface": "PJSIP/2001\r\nX: y"}, {"interface"}),
        (
            "/api/v1/agents",
            {"id": "2001", "interface": "PJSIP/2001", "skills": {"s": True}},
            {"skills.s"},
        ),
        (
            "/api/v1/agents",
            {"id": "2001", "interface": "PJSIP/2001", "max_calls": 2},
            {"max_calls"},
        ),
        (
            "/api/v1/agents",
            {"id": "2001", "interface": "PJSIP/2001", "queues": ["sales", "ghost"]},
            {"queues.1"},
        ),
        (
            "/api/v1/queues",
            {
                "id": "q",
                "strategy": "fastest",
                "ring_timeout_s": 0,
                "callback_key": "A",
                "overflow_target": "voicemail:",
                "announce_position": "yes",
            },
            {"strategy", "ring_timeout_s", "callback_key", "overflow_target", "announce_position"},
        ),
        ("/api/v1/queues", {"id": "q", "escalate_after_s": 30}, {"escalate_after_s"}),
        ("/api/v1/queues", {"id": "q", "escalate_to_queue": "sales"}, {"escalate_to_queue"}),
        ("/api/v1/queues", {"id": "q", "no_agents_target": "queue:q"}, {"no_agents_target"}),
        ("/api/v1/queues", {"id": "q", "wrapup_s": "5"}, {"wrapup_s"}),
        ("/api/v1/pause-reasons", {"code": "x", "time_limit_s": -1}, {"time_limit_s"}),
        ("/api/v1/pause-reasons", {"label": "no code"}, {"code"}),
    ],
)
async def test_invalid_bodies_are_422_naming_each_field(
    api: Api, live: FakeAcdLive, path: str, body: dict[str, Any], fields: set[str]
) -> None:
    status, problem = await send(api, "POST", path, body=body)
    assert status == 422, problem
    assert error_fields(problem) == fields
    assert live.reloads == 0


async def test_unknown_ids_are_404(api: Api) -> None:
    for method, path, body in [
        ("GET", "/api/v1/agents/nobody", None),
        ("PUT", "/api/v1/agents/nobody", {"interface": "PJSIP/1"}),
        ("DELETE", "/api/v1/agents/nobody", None),
        ("GET", "/api/v1/queues/none", None),
        ("PUT", "/api/v1/queues/none", {}),
        ("DELETE", "/api/v1/queues/none", None),
        ("PUT", "/api/v1/pause-reasons/none", {}),
        ("DELETE", "/api/v1/pause-reasons/none", None),
        ("POST", "/api/v1/agents/nobody/login", None),
        ("PUT", "/api/v1/agents/1001/queues/none", None),
        ("GET", "/api/v1/agents/nobody/sessions", None),
        # Ids that cannot be valid cannot exist.
        ("GET", "/api/v1/agents/" + "x" * 65, None),
        ("GET", "/api/v1/queues/a%20b", None),
    ]:
        status, problem = await send(api, method, path, body=body)
        assert status == 404, (method, path, problem)


async def test_post_without_a_json_body_is_a_clear_4xx(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/agents", data="id=1", headers={**api.auth("admin"), "Content-Type": "text/plain"}
    )
    assert response.status == 415
    response = await api.client.post(
        "/api/v1/queues",
        data="{",
        headers={**api.auth("admin"), "Content-Type": "application/json"},
    )
    assert response.status == 400


# --- agent actions -----------------------------------------------------------------------


async def test_agent_actions_reach_the_running_acd(api: Api, live: FakeAcdLive) -> None:
    status, body = await send(api, "POST", "/api/v1/agents/1001/login", "agent")
    assert status == 200, body
    assert (body["agent_id"], body["action"]) == ("1001", "login")
    assert (body["live"]["status"], body["live"]["reason"], body["live"]["queues"]) == (
        "available",
        None,
        [],
    )
    await send(api, "POST", "/api/v1/agents/1001/logout", "agent")
    status, body = await send(
        api, "POST", "/api/v1/agents/1001/login", "agent", {"queues": ["support"]}
    )
    assert body["live"]["queues"] == ["support"]
    await send(api, "PUT", "/api/v1/agents/1001/queues/sales", "agent")
    status, body = await send(
        api, "POST", "/api/v1/agents/1001/pause", "agent", {"reason": "lunch"}
    )
    # Only a paused agent's view has billable and pause_over_limit.
    assert (body["live"]["status"], body["live"]["reason"]) == ("paused", "lunch")
    assert (body["live"]["billable"], body["live"]["pause_over_limit"]) == (False, False)
    status, body = await send(api, "POST", "/api/v1/agents/1001/unpause", "supervisor")
    assert "billable" not in body["live"]
    await send(api, "DELETE", "/api/v1/agents/1001/queues/support", "supervisor")
    assert live.calls == [
        ("login", "1001", None),
        ("logout", "1001"),
        ("login", "1001", ("support",)),
        ("join", "1001", "sales"),
        ("pause", "1001", "lunch"),
        ("unpause", "1001"),
        ("leave", "1001", "support"),
    ]
    assert live.agents["1001"] == {"state": "available", "reason": None, "queues": {"sales"}}


async def test_pause_needs_a_configured_reason(api: Api, live: FakeAcdLive) -> None:
    live.agents["1001"] = {"state": "available", "reason": None, "queues": set()}
    for body, field in [({"reason": "smoke"}, "reason"), ({}, "reason"), ({"why": 1}, "why")]:
        status, problem = await send(api, "POST", "/api/v1/agents/1001/pause", "agent", body)
        assert status == 422
        assert field in error_fields(problem)
    assert live.calls == []


async def test_acd_refusal_is_409_with_its_reason(api: Api, live: FakeAcdLive) -> None:
    status, problem = await send(api, "POST", "/api/v1/agents/1001/unpause", "agent")
    assert status == 409
    assert problem["detail"] == "agent '1001' is not logged in"
    assert problem["type"] == "urn:ccd:problem:acd-refused"
    live.refuse_with = "agent 1001 is on a call"
    status, problem = await send(api, "POST", "/api/v1/agents/1001/logout", "supervisor")
    assert (status, problem["detail"]) == (409, "agent 1001 is on a call")


async def test_login_body_is_validated(api: Api, live: FakeAcdLive) -> None:
    status, problem = await send(
        api, "POST", "/api/v1/agents/1001/login", "agent", {"queues": ["bad id"]}
    )
    assert status == 422
    assert error_fields(problem) == {"queues.0"}
    assert live.calls == []


# --- session log -------------------------------------------------------------------------


async def test_session_log_with_time_window_and_limit(api: Api, store: AcdStore) -> None:
    await store.append_sessions(
        [
            SessionEntry("1001", status, reason, None, ("sales",), T0 + timedelta(minutes=m))
            for m, status, reason in [
                (0, "available", None),
                (10, "paused", "lunch"),
                (70, "available", None),
                (80, "logged_out", None),
            ]
        ]
    )
    status, body = await send(api, "GET", "/api/v1/agents/1001/sessions", "agent")
    assert status == 200
    assert [s["status"] for s in body["sessions"]] == [
        "available",
        "paused",
        "available",
        "logged_out",
    ]
    assert body["sessions"][1] == {
        "status": "paused",
        "reason": "lunch",
        "call_id": None,
        "queue_ids": ["sales"],
        "at": "2026-11-25T09:10:00.000Z",
    }
    assert body["truncated"] is False

    query = "from=2026-11-25T09:05:00Z&to=2026-11-25T10:15:00%2B00:00&limit=1"
    status, body = await send(api, "GET", f"/api/v1/agents/1001/sessions?{query}", "supervisor")
    assert [s["at"] for s in body["sessions"]] == ["2026-11-25T09:10:00.000Z"]
    assert body["truncated"] is True


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=yesterday", "from"),
        ("from=2026-11-25T09:00:00", "from"),  # no timezone
        ("from=2026-11-25T10:00:00Z&to=2026-11-25T09:00:00Z", "from"),
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=1&limit=2", "limit"),
        ("status=paused", "status"),
    ],
)
async def test_session_log_query_errors_name_the_parameter(
    api: Api, query: str, field: str
) -> None:
    status, problem = await send(api, "GET", f"/api/v1/agents/1001/sessions?{query}")
    assert status == 422
    assert field in error_fields(problem)


async def test_database_failure_is_503_not_500(tmp_path: Path, live: FakeAcdLive) -> None:
    # Never migrated: every query fails in the driver.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        async with running_api(acd_store=AcdStore(engine), acd_live=live) as api:
            for method, path in [
                ("GET", "/api/v1/agents"),
                ("GET", "/api/v1/queues/sales"),
                ("POST", "/api/v1/agents/1001/login"),
            ]:
                status, problem = await send(api, method, path)
                assert status == 503, (path, problem)
                assert problem["type"] == "urn:ccd:problem:upstream-unavailable"
    finally:
        await engine.dispose()
    assert live.calls == []
