"""Every endpoint x every kind of caller, over a real socket."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.api.app import build_api, ensure_routes_have_policy
from ccd.api.hub import EventHub
from ccd.api.policy import ROUTE_ROLES
from ccd.cdr.queries import CdrDetail
from ccd.db.audit_store import AuditStore
from ccd.domain.auth import Principal
from tests.integration.apifakes import (
    PRINCIPALS,
    TOKENS,
    FakeCalls,
    FakeCdrs,
    FakeControl,
    FakeReadiness,
    FakeTokens,
    make_call,
    make_cdr,
    running_api,
)
from tests.integration.authmatrix import (
    ACD_ENDPOINTS,
    ALL_ROLES,
    AUDIT_ENDPOINTS,
    CONTROLLERS,
    DIALER_ENDPOINTS,
    DIALING_ENDPOINTS,
    FORECAST_ENDPOINTS,
    IDENTITIES,
    MONITOR_ENDPOINTS,
    QUALITY_ENDPOINTS,
    READERS,
    RECORDING_ENDPOINTS,
    REPORT_ENDPOINTS,
    TOKEN_ENDPOINTS,
    WALLBOARD_ENDPOINTS,
    WEBHOOK_ENDPOINTS,
    Endpoint,
    call,
    expected_status,
    headers_for,
)

CALL_ID = "1700000000.1"
ORIGINATE: dict[str, object] = {"endpoint": "PJSIP/1001", "destination": "2000"}


ENDPOINTS = {
    "calls.list": Endpoint("GET", "/api/v1/calls", 200, READERS),
    "calls.get": Endpoint("GET", f"/api/v1/calls/{CALL_ID}", 200, READERS),
    "calls.originate": Endpoint("POST", "/api/v1/calls", 202, CONTROLLERS, body=ORIGINATE),
    "calls.hangup": Endpoint("DELETE", f"/api/v1/calls/{CALL_ID}", 202, CONTROLLERS),
    "events.stream": Endpoint("GET", "/api/v1/events", 101, READERS, websocket=True),
    "me": Endpoint("GET", "/api/v1/me", 200, ALL_ROLES),
    # Agents may read CDRs of their own calls; this one is agent 1001's (test_api_cdrs
    # covers another agent's).
    "cdrs.list": Endpoint("GET", "/api/v1/cdrs", 200, ALL_ROLES),
    "cdrs.get": Endpoint("GET", f"/api/v1/cdrs/{CALL_ID}", 200, ALL_ROLES),
    "cdrs.csv": Endpoint("GET", "/api/v1/cdrs.csv", 200, ALL_ROLES),
    "ivr.flows": Endpoint("GET", "/api/v1/ivr/flows", 200, CONTROLLERS),
    "ivr.reload": Endpoint("POST", "/api/v1/ivr/reload", 200, frozenset({"admin"})),
    # Prometheus scrapes with an integrator token of its own (README, "Metrics").
    "metrics": Endpoint("GET", "/metrics", 200, frozenset({"admin", "integrator"})),
}
# Routes of ENDPOINTS that record an audit entry when they succeed.
AUDITED = frozenset({"calls.originate", "calls.hangup", "ivr.reload"})


def test_matrix_covers_every_authenticated_route() -> None:
    # The ACD and dialer routes are checked in test_api_acd, test_api_dialer and
    # test_api_dialing (they need a database).
    covered = set(ENDPOINTS) | set(ACD_ENDPOINTS) | set(DIALER_ENDPOINTS) | set(DIALING_ENDPOINTS)
    covered |= set(AUDIT_ENDPOINTS)  # test_api_audit
    covered |= set(MONITOR_ENDPOINTS)  # test_api_monitoring
    covered |= set(FORECAST_ENDPOINTS)  # test_api_forecast
    covered |= set(WALLBOARD_ENDPOINTS)  # test_api_wallboard
    covered |= set(REPORT_ENDPOINTS)  # test_api_reports
    covered |= set(QUALITY_ENDPOINTS)  # test_api_quality
    covered |= set(RECORDING_ENDPOINTS)  # test_api_recordings
    covered |= set(TOKEN_ENDPOINTS)  # test_api_tokens
    covered |= set(WEBHOOK_ENDPOINTS)  # test_api_webhooks
    assert covered == set(ROUTE_ROLES)


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(ENDPOINTS.keys() - AUDITED))
async def test_auth_matrix(route: str, identity: str) -> None:
    await check_matrix(route, identity, audit=None)


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(AUDITED))
async def test_auth_matrix_of_audited_routes(
    route: str, identity: str, engine: AsyncEngine
) -> None:
    # A trail (SQLite), or their successes would be 503.
    await check_matrix(route, identity, audit=AuditStore(engine))


async def check_matrix(route: str, identity: str, *, audit: AuditStore | None) -> None:
    endpoint = ENDPOINTS[route]
    cdrs = FakeCdrs([CdrDetail(make_cdr(CALL_ID, agent_id="1001"), legs=())])
    async with running_api(calls=[make_call(CALL_ID)], cdrs=cdrs, audit=audit) as api:
        status = await call(api, endpoint, headers_for(identity))
        assert status == expected_status(endpoint, identity)
        if not endpoint.websocket and status in (401, 403):
            response = await api.client.request(
                endpoint.method, endpoint.path, headers=headers_for(identity), json=endpoint.body
            )
            assert response.content_type == "application/problem+json"
            problem = await response.json()
            assert problem["status"] == status
            if status == 401:
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
        # A refused caller must not have caused any action.
        if status != 202:
            assert api.control.originates == []
            assert api.control.hangups == []


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_probes_need_no_token(path: str, identity: str) -> None:
    async with running_api() as api:
        response = await api.client.get(path, headers=headers_for(identity))
        assert response.status == 200


@pytest.mark.parametrize(
    "header",
    [
        "Basic YWRtaW46YWRtaW4=",
        "Bearer",
        "Bearer ",
        f"Token {TOKENS['admin']}",
        f"Bearer {'x' * 600}",
    ],
)
async def test_malformed_authorization_is_401(header: str) -> None:
    async with running_api() as api:
        response = await api.client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status == 401
        assert "Bearer" in response.headers["WWW-Authenticate"]
        assert (await response.json())["title"] == "Unauthorized"


async def test_scheme_is_case_insensitive() -> None:
    async with running_api() as api:
        response = await api.client.get(
            "/api/v1/me", headers={"Authorization": f"bearer {TOKENS['integrator']}"}
        )
        assert response.status == 200


async def test_me_returns_the_callers_principal() -> None:
    async with running_api() as api:
        response = await api.client.get("/api/v1/me", headers=api.auth("agent"))
        assert await response.json() == {"token_id": "t-agent", "role": "agent", "agent_id": "1001"}


async def test_websocket_accepts_token_as_subprotocol() -> None:
    async with running_api() as api:
        ws = await api.client.ws_connect(
            "/api/v1/events", protocols=("ccd.v1", f"bearer.{TOKENS['integrator']}")
        )
        assert ws.protocol == "ccd.v1"  # the token is not echoed when ccd.v1 was offered
        first = await ws.receive_json()
        assert first["type"] == "snapshot"
        await ws.close()


async def test_websocket_with_only_bearer_subprotocol_gets_it_echoed() -> None:
    async with running_api() as api:
        protocol = f"bearer.{TOKENS['admin']}"
        ws = await api.client.ws_connect("/api/v1/events", protocols=(protocol,))
        assert ws.protocol == protocol
        await ws.close()


@pytest.mark.parametrize(
    ("protocols", "status"),
    [
        (("ccd.v1", "bearer.wrong-token"), 401),
        (("ccd.v1",), 401),
        (("ccd.v1", f"bearer.{TOKENS['agent']}"), 403),
    ],
)
async def test_websocket_subprotocol_auth_failures(protocols: tuple[str, ...], status: int) -> None:
    async with running_api() as api:
        with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
            await api.client.ws_connect("/api/v1/events", protocols=protocols)
        assert failure.value.status == status


async def test_token_in_query_string_is_ignored() -> None:
    async with running_api() as api:
        with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
            await api.client.ws_connect(f"/api/v1/events?access_token={TOKENS['admin']}")
        assert failure.value.status == 401
        response = await api.client.get(f"/api/v1/me?access_token={TOKENS['admin']}")
        assert response.status == 401


async def test_bearer_subprotocol_is_not_accepted_on_plain_routes() -> None:
    async with running_api() as api:
        response = await api.client.get(
            "/api/v1/me", headers={"Sec-WebSocket-Protocol": f"bearer.{TOKENS['admin']}"}
        )
        assert response.status == 401


async def test_token_verifier_failure_is_503_not_500() -> None:
    class BrokenTokens:
        async def verify(self, token: str) -> Principal | None:
            raise ConnectionRefusedError("database down at 10.0.0.5")

        def record_use(self, token_id: str, source: str) -> None:
            raise AssertionError("no token was verified")

    async with running_api(tokens=BrokenTokens()) as api:
        response = await api.client.get("/api/v1/me", headers=api.auth("admin"))
        assert response.status == 503
        assert "10.0.0.5" not in await response.text()


def test_a_route_without_policy_is_refused_at_build_time() -> None:
    directory = FakeCalls()
    app = build_api(
        tokens=FakeTokens(PRINCIPALS),
        calls=directory,
        control=FakeControl(directory),
        readiness=FakeReadiness(),
        hub=EventHub(),
        cdrs=FakeCdrs(),
        max_body_bytes=1024,
    )
    ensure_routes_have_policy(app)  # the shipped routes pass

    async def forgotten(request: web.Request) -> web.Response:
        return web.json_response({})

    app.router.add_get("/api/v1/forgotten", forgotten, name="forgotten")
    with pytest.raises(RuntimeError, match="/api/v1/forgotten"):
        ensure_routes_have_policy(app)
    app.router.add_get("/api/v1/unnamed", forgotten)
    with pytest.raises(RuntimeError):
        ensure_routes_have_policy(app)
