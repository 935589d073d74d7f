"""GET /api/v1/audit: the audit trail (a real AuditStore on SQLite), newest first, filtered,
admins only, every bad parameter a 422 naming it."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.audit_store import AuditStore
from ccd.domain.audit import AuditEntry
from ccd.domain.auth import Principal, Role
from tests.clock import T0, FakeClock
from tests.integration.apifakes import error_fields, running_api, send
from tests.integration.authmatrix import (
    AUDIT_ENDPOINTS,
    IDENTITIES,
    call,
    expected_status,
    headers_for,
)

SUPERVISOR = Principal("t-sup", Role.SUPERVISOR, None)
QA = Principal("t-qa", Role.QA, None)


@pytest.fixture
async def store(engine: AsyncEngine) -> AuditStore:
    """Three events a minute apart from T0: a monitor start and end on call c1, and a
    recording played."""
    clock = FakeClock(T0)
    audit = AuditStore(engine, clock)
    await audit.record(AuditEntry(SUPERVISOR, "monitor.started", "call", "c1", {"mode": "listen"}))
    clock.advance(60)
    await audit.record(AuditEntry(QA, "recording.played", "recording", "r7"))
    clock.advance(60)
    await audit.record(AuditEntry(SUPERVISOR, "monitor.ended", "call", "c1", {"mode": "barge"}))
    return audit


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(AUDIT_ENDPOINTS))
async def test_auth_matrix(route: str, identity: str, store: AuditStore) -> None:
    endpoint = AUDIT_ENDPOINTS[route]
    async with running_api(audit=store) as api:
        status = await call(api, endpoint, headers_for(identity))
    assert status == expected_status(endpoint, identity)


async def test_lists_newest_first_with_actor_and_detail(store: AuditStore) -> None:
    async with running_api(audit=store) as api:
        status, body = await send(api, "GET", "/api/v1/audit")
    assert status == 200
    assert body["count"] == 3
    assert [e["action"] for e in body["events"]] == [
        "monitor.ended",
        "recording.played",
        "monitor.started",
    ]
    newest = body["events"][0]
    assert newest["actor"] == {"token_id": "t-sup", "role": "supervisor", "agent_id": None}
    assert newest["target_kind"] == "call"
    assert newest["target_id"] == "c1"
    assert newest["detail"] == {"mode": "barge"}
    assert newest["at"] == "2026-11-25T09:02:00.000Z"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("action=monitor.started", ["monitor.started"]),
        ("target_kind=call&target_id=c1", ["monitor.ended", "monitor.started"]),
        ("target_id=r7", ["recording.played"]),
        ("since=2026-11-25T09:01:00Z", ["monitor.ended", "recording.played"]),
        # until is exclusive; an offset is honoured.
        ("until=2026-11-25T10:01:00%2B01:00", ["monitor.started"]),
        ("limit=1", ["monitor.ended"]),
        ("action=nothing.here", []),
    ],
)
async def test_filters(store: AuditStore, query: str, expected: list[str]) -> None:
    async with running_api(audit=store) as api:
        status, body = await send(api, "GET", f"/api/v1/audit?{query}")
    assert status == 200, body
    assert [e["action"] for e in body["events"]] == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2026-11-25T09:00:00", "until"),  # no timezone
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=many", "limit"),
        ("action=" + "a" * 65, "action"),
        ("target_id=c1%0D%0AEvil:1", "target_id"),
        ("target_kind=", "target_kind"),
        ("colour=red", "colour"),
        ("action=a&action=b", "action"),
        ("since=2026-11-25T10:00:00Z&until=2026-11-25T09:00:00Z", "since"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(
    store: AuditStore, query: str, field: str
) -> None:
    async with running_api(audit=store) as api:
        response = await api.client.get(f"/api/v1/audit?{query}", headers=api.auth("admin"))
        problem = await response.json()
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert field in error_fields(problem)


async def test_without_a_trail_the_route_is_503() -> None:
    async with running_api(allow_server_errors=True) as api:
        status, problem = await send(api, "GET", "/api/v1/audit")
    assert status == 503
    assert "audit trail" in problem["detail"]


async def test_a_database_outage_is_503(store: AuditStore, engine: AsyncEngine) -> None:
    await engine.dispose()
    async with engine.begin() as connection:
        await connection.exec_driver_sql("DROP TABLE audit_events")
    async with running_api(audit=store, allow_server_errors=True) as api:
        status, problem = await send(api, "GET", "/api/v1/audit")
    assert status == 503
    assert problem["type"] == "urn:ccd:problem:upstream-unavailable"


async def test_the_document_names_the_roles_an_actor_can_have() -> None:
    async with running_api() as api:
        response = await api.client.get("/api/v1/openapi.json")
        document = await response.json()
    role = document["components"]["schemas"]["AuditActor"]["properties"]["role"]
    schema = document["components"]["schemas"][role["$ref"].rsplit("/", 1)[1]]
    assert sorted(schema["enum"]) == sorted(r.value for r in Role)
