"""The API of an instance in a high-availability pair (ccd.ha.api): a standby serves
reads and answers every write 503 naming the leader; /readyz says the role. The real app
(tests/integration/apifakes.py) with the real election runtime, stepped by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ccd.api.models.calls import Ready
from ccd.ha.api import STANDBY_PROBLEM
from ccd.ha.election import Election, Leader, LeaseTimings, LockAcquired, LockBusy
from ccd.ha.postgres import PostgresLease
from ccd.ha.runtime import HaRuntime
from tests.clock import FakeClock
from tests.integration.apifakes import Api, running_api, send

LEADER = Leader(instance="ccd-a", api_url="http://10.0.0.1:8080", epoch=6)
ORIGINATE = {"endpoint": "PJSIP/1001", "destination": "5551234"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(clock: FakeClock) -> HaRuntime:
    async def started(_epoch: int) -> None:
        return None

    return HaRuntime(
        election=Election(LeaseTimings(lease_s=5.0, renew_interval_s=1.0)),
        # Never reached here: the test feeds the election's events itself.
        store=PostgresLease(
            "postgresql+asyncpg://ccd@127.0.0.1:9/none",
            instance="ccd-b",
            api_url="http://10.0.0.2:8080",
            lease_s=5.0,
            query_timeout_s=1.0,
            clock=clock,
        ),
        clock=clock,
        instance="ccd-b",
        api_url="http://10.0.0.2:8080",
        on_active=started,
        on_fenced=lambda reason: pytest.fail(f"fenced: {reason}"),
    )


@pytest.fixture
async def api(runtime: HaRuntime) -> AsyncIterator[Api]:
    async with running_api(ha=runtime) as running:
        yield running


async def test_a_standby_refuses_writes_naming_the_leader(api: Api, runtime: HaRuntime) -> None:
    await runtime.step(LockBusy(0.0, LEADER, lease_left_s=4.0, holder_pid=42))
    response = await api.client.post("/api/v1/calls", json=ORIGINATE, headers=api.auth("admin"))
    assert response.status == 503
    body = await response.json()
    assert body["type"] == STANDBY_PROBLEM
    assert body["role"] == "standby"
    assert body["leader"] == {"instance": "ccd-a", "api_url": "http://10.0.0.1:8080", "epoch": 6}
    assert response.headers["Location"] == "http://10.0.0.1:8080/api/v1/calls"
    assert response.headers["Retry-After"] == "1"
    assert api.control.originates == []


async def test_a_standby_still_checks_the_token_first(api: Api) -> None:
    response = await api.client.post("/api/v1/calls", json=ORIGINATE)
    assert response.status == 401


async def test_a_standby_serves_reads(api: Api) -> None:
    status, body = await send(api, "GET", "/api/v1/calls")
    assert status == 200
    assert body["calls"] == []


async def test_readyz_says_standby_and_who_leads(api: Api, runtime: HaRuntime) -> None:
    await runtime.step(LockBusy(0.0, LEADER, lease_left_s=4.0, holder_pid=42))
    response = await api.client.get("/readyz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ready"
    assert body["ha"] == {
        "role": "standby",
        "instance": "ccd-b",
        "epoch": None,
        "leader": {"instance": "ccd-a", "api_url": "http://10.0.0.1:8080", "epoch": 6},
    }
    # The answer is the one the OpenAPI document describes (its Ready model, ha included).
    assert Ready.model_validate(body).model_dump(mode="json") == body


async def test_while_taking_over_writes_are_still_refused(api: Api, runtime: HaRuntime) -> None:
    await runtime.step(LockAcquired(0.0, 7, previous_lease_left_s=3.0))
    status, body = await send(api, "POST", "/api/v1/calls", body=ORIGINATE)
    assert status == 503
    assert body["role"] == "taking_over"
    assert body["leader"] is None
    ready = await (await api.client.get("/readyz")).json()
    assert ready["ha"]["role"] == "taking_over"
    assert ready["ha"]["epoch"] == 7


async def test_once_active_writes_go_through(api: Api, runtime: HaRuntime) -> None:
    await runtime.step(LockAcquired(0.0, 7, previous_lease_left_s=0.0))
    await runtime.activated.wait()
    status, body = await send(api, "POST", "/api/v1/calls", body=ORIGINATE)
    # The route itself answers now: this harness has no audit trail, which it needs first.
    assert status == 503
    assert body["type"] != STANDBY_PROBLEM
    assert "audit trail is unavailable" in body["detail"]
    ready = await (await api.client.get("/readyz")).json()
    assert ready["ha"] == {"role": "active", "instance": "ccd-b", "epoch": 7, "leader": None}
