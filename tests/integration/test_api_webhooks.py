"""Webhook subscriptions over REST: admins only; the secret shown once; SSRF refusals;
delivery statistics, dead letters and replay as an admin sees them."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.api.webhooks import WebhookApi
from ccd.db.audit_store import AuditStore
from ccd.db.engine import create_engine
from ccd.db.webhook_store import DELIVERIES, WebhookStore
from ccd.webhooks.model import DeliveryStatus, Subscription
from ccd.webhooks.payloads import Event
from tests.clock import T0, FakeClock
from tests.integration.apifakes import error_fields, running_api, send
from tests.integration.authmatrix import (
    DELIVERY_ID,
    IDENTITIES,
    WEBHOOK_ENDPOINTS,
    WEBHOOK_ID,
    call,
    expected_status,
    headers_for,
)

NEW_SUBSCRIPTION = {"url": "http://127.0.0.1:8080/crm", "event_types": ["call.*"]}
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def webhook_api(
    engine: AsyncEngine,
    *,
    allow_private: bool = True,
    resolve: Callable[[str], Awaitable[list[str]]] | None = None,
    changes: list[str] | None = None,
) -> WebhookApi:
    async def changed() -> None:
        if changes is not None:
            changes.append("changed")

    kwargs: dict[str, Any] = {} if resolve is None else {"resolve": resolve}
    return WebhookApi(
        store=WebhookStore(engine),
        clock=FakeClock(T0),
        changed=changed,
        allow_private_targets=allow_private,
        **kwargs,
    )


async def seed(engine: AsyncEngine, *, dead: bool = True) -> WebhookStore:
    """Subscription WEBHOOK_ID with one delivery DELIVERY_ID (dead unless told)."""
    store = WebhookStore(engine)
    await store.create(
        Subscription(WEBHOOK_ID, "http://127.0.0.1:9/hook", ("*",), SECRET, True, "", T0, T0)
    )
    event = Event("agent.state", "agent:1001", T0, {"agent_id": "1001", "status": "idle"})
    await store.add([(WEBHOOK_ID, event)], T0)
    async with engine.begin() as connection:
        await connection.execute(
            update(DELIVERIES).values(id=DELIVERY_ID, status="dead" if dead else "pending")
        )
    return store


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(WEBHOOK_ENDPOINTS))
async def test_auth_matrix(route: str, identity: str, engine: AsyncEngine) -> None:
    await seed(engine)
    endpoint = WEBHOOK_ENDPOINTS[route]
    async with running_api(audit=AuditStore(engine), webhooks=webhook_api(engine)) as api:
        status = await call(api, endpoint, headers_for(identity))
    assert status == expected_status(endpoint, identity)


async def test_the_secret_is_shown_once(engine: AsyncEngine) -> None:
    changes: list[str] = []
    async with running_api(
        audit=AuditStore(engine), webhooks=webhook_api(engine, changes=changes)
    ) as api:
        status, created = await send(
            api,
            "POST",
            "/api/v1/webhooks",
            body={"url": "http://127.0.0.1:8080/crm", "event_types": ["call.ringing", "queue.*"]},
        )
        assert status == 201
        assert created["secret"].startswith("whsec_")
        assert len(base64.b64decode(created["secret"][6:])) == 32
        assert created["event_types"] == ["call.ringing", "queue.*"]
        assert created["enabled"] is True
        status, shown = await send(api, "GET", f"/api/v1/webhooks/{created['id']}")
        assert status == 200
        assert "secret" not in shown
        status, listed = await send(api, "GET", "/api/v1/webhooks")
        assert [w["id"] for w in listed["webhooks"]] == [created["id"]]
        assert "secret" not in listed["webhooks"][0]
    assert changes == ["changed"]  # the delivering service re-reads its subscriptions
    (entry,) = await AuditStore(engine).search(action="webhook.created")
    assert entry.target_id == created["id"]
    assert entry.actor_role == "admin"
    assert entry.detail["before"] is None
    assert entry.detail["after"]["url"] == "http://127.0.0.1:8080/crm"
    assert "whsec_" not in str(entry.detail)


async def test_a_given_secret_is_kept_and_a_bad_one_named(engine: AsyncEngine) -> None:
    async with running_api(audit=AuditStore(engine), webhooks=webhook_api(engine)) as api:
        body = {"url": "http://127.0.0.1:8080/crm", "event_types": ["*"], "secret": SECRET}
        status, created = await send(api, "POST", "/api/v1/webhooks", body=body)
        assert status == 201
        assert created["secret"] == SECRET
        status, problem = await send(
            api, "POST", "/api/v1/webhooks", body=body | {"secret": "whsec_c2hvcnQ="}
        )
    assert status == 422
    assert error_fields(problem) == {"secret"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://127.0.0.1/x", "event_types": ["call.rang"]}, "event_types"),
        ({"url": "http://127.0.0.1/x", "event_types": []}, "event_types"),
        ({"url": "ftp://127.0.0.1/x", "event_types": ["*"]}, "url"),
        ({"url": "http://u:p@127.0.0.1/x", "event_types": ["*"]}, "url"),
        ({"url": "http://127.0.0.1/x\r\nX: 1", "event_types": ["*"]}, "url"),
        ({"url": "http://127.0.0.1/x", "event_types": ["*"], "extra": 1}, "extra"),
    ],
)
async def test_bad_subscriptions_are_422_naming_the_field(
    engine: AsyncEngine, body: dict[str, object], field: str
) -> None:
    async with running_api(audit=AuditStore(engine), webhooks=webhook_api(engine)) as api:
        status, problem = await send(api, "POST", "/api/v1/webhooks", body=body)
    assert status == 422
    assert field in error_fields(problem)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
        "http://intranet.example/hook",  # resolves to a private address
    ],
)
async def test_private_targets_are_refused_unless_allowed(engine: AsyncEngine, url: str) -> None:
    async def resolve(host: str) -> list[str]:
        return {"intranet.example": ["93.184.215.14", "192.168.7.7"]}[host]

    api_deps = webhook_api(engine, allow_private=False, resolve=resolve)
    async with running_api(audit=AuditStore(engine), webhooks=api_deps) as api:
        status, problem = await send(
            api, "POST", "/api/v1/webhooks", body={"url": url, "event_types": ["*"]}
        )
    assert status == 422
    assert error_fields(problem) == {"url"}
    assert "allow_private_targets" in problem["errors"][0]["message"]


async def test_a_public_target_is_accepted(engine: AsyncEngine) -> None:
    async def resolve(host: str) -> list[str]:
        return ["93.184.215.14"]

    async with running_api(
        audit=AuditStore(engine),
        webhooks=webhook_api(engine, allow_private=False, resolve=resolve),
    ) as api:
        status, _ = await send(
            api,
            "POST",
            "/api/v1/webhooks",
            body={"url": "https://crm.example/hook", "event_types": ["*"]},
        )
    assert status == 201


async def test_update_disable_and_delete(engine: AsyncEngine) -> None:
    await seed(engine)
    async with running_api(audit=AuditStore(engine), webhooks=webhook_api(engine)) as api:
        path = f"/api/v1/webhooks/{WEBHOOK_ID}"
        status, changed = await send(
            api, "PATCH", path, body={"enabled": False, "event_types": ["agent.*"]}
        )
        assert status == 200
        assert changed["enabled"] is False
        assert changed["event_types"] == ["agent.*"]
        status, problem = await send(api, "PATCH", path, body={"url": "gopher://x"})
        assert status == 422
        assert error_fields(problem) == {"url"}
        assert (await send(api, "DELETE", path))[0] == 204
        assert (await send(api, "GET", path))[0] == 404
        assert (await send(api, "DELETE", path))[0] == 404
        assert (await send(api, "GET", f"{path}/deliveries"))[0] == 404
    trail = AuditStore(engine)
    (updated,) = await trail.search(action="webhook.updated")
    assert updated.detail["before"]["enabled"] is True
    assert updated.detail["after"]["enabled"] is False
    assert updated.detail["after"]["event_types"] == ["agent.*"]
    (deleted,) = await trail.search(action="webhook.deleted")
    assert deleted.target_id == WEBHOOK_ID
    # The subscription as it was when deleted (after the update), never its secret.
    assert deleted.detail == {"before": updated.detail["after"], "after": None}


async def test_dead_letters_are_listed_and_replayed_with_their_id(engine: AsyncEngine) -> None:
    await seed(engine)
    async with running_api(audit=AuditStore(engine), webhooks=webhook_api(engine)) as api:
        base = f"/api/v1/webhooks/{WEBHOOK_ID}"
        status, dead = await send(api, "GET", f"{base}/deliveries?status=dead")
        assert status == 200
        assert [d["id"] for d in dead["deliveries"]] == [DELIVERY_ID]
        assert dead["deliveries"][0]["payload"]["type"] == "agent.state"
        assert dead["deliveries"][0]["payload"]["data"] == {"agent_id": "1001", "status": "idle"}
        status, shown = await send(api, "GET", base)
        assert shown["stats"]["dead"] == 1
        assert shown["stats"]["pending"] == 0
        status, replayed = await send(api, "POST", f"{base}/deliveries/{DELIVERY_ID}/replay")
        assert status == 202
        assert replayed["id"] == DELIVERY_ID
        assert replayed["status"] == "pending"
        assert (await send(api, "GET", f"{base}/deliveries?status=dead"))[1]["deliveries"] == []
        status, shown = await send(api, "GET", base)
        assert shown["stats"]["pending"] == 1
        (replay,) = await AuditStore(engine).search(action="webhook.delivery_replayed")
        assert replay.detail == {"delivery_id": DELIVERY_ID}
        missing = await send(api, "POST", f"{base}/deliveries/msg_nope/replay")
        assert missing[0] == 404
        status, problem = await send(api, "GET", f"{base}/deliveries?status=lost")
        assert status == 422
        assert error_fields(problem) == {"status"}


async def test_statistics_count_attempts_and_latency(engine: AsyncEngine) -> None:
    store = await seed(engine, dead=False)
    later = datetime(2026, 11, 25, 9, 0, 2, tzinfo=UTC)
    await store.failed(DELIVERY_ID, at=T0, status=503, error="HTTP 503", retry_at=later)
    await store.delivered(DELIVERY_ID, at=later, status=200, latency_ms=2000.0)
    async with running_api(audit=AuditStore(engine), webhooks=webhook_api(engine)) as api:
        status, shown = await send(api, "GET", f"/api/v1/webhooks/{WEBHOOK_ID}")
    assert status == 200
    assert shown["stats"] == {
        "delivered": 1,
        "failed_attempts": 1,
        "pending": 0,
        "dead": 0,
        "last_success_at": "2026-11-25T09:00:02.000Z",
        "last_failure_at": "2026-11-25T09:00:00.000Z",
        "latency_ms_avg": 2000.0,
        "latency_ms_max": 2000.0,
    }


async def test_without_webhooks_the_routes_answer_503(engine: AsyncEngine) -> None:
    async with running_api() as api:
        status, _ = await send(api, "GET", "/api/v1/webhooks")
    assert status == 503


async def test_without_an_audit_trail_nothing_is_changed(engine: AsyncEngine) -> None:
    """A change that could not be recorded is not made: 503 before the store is touched,
    so a client's retry cannot make a second subscription (and lose the first secret)."""
    store = await seed(engine)
    changes: list[str] = []
    async with running_api(webhooks=webhook_api(engine, changes=changes)) as api:
        base = f"/api/v1/webhooks/{WEBHOOK_ID}"
        created = await send(api, "POST", "/api/v1/webhooks", body=NEW_SUBSCRIPTION)
        updated = await send(api, "PATCH", base, body={"enabled": False})
        replayed = await send(api, "POST", f"{base}/deliveries/{DELIVERY_ID}/replay")
        deleted = await send(api, "DELETE", base)
        for status, problem in (created, updated, replayed, deleted):
            assert status == 503
            assert problem["detail"] == "the audit trail is unavailable; retry later"
        # Bad input is still named as it would be with a trail.
        bad = {**NEW_SUBSCRIPTION, "url": "gopher://x"}
        status, problem = await send(api, "POST", "/api/v1/webhooks", body=bad)
        assert (status, error_fields(problem)) == (422, {"url"})
    assert changes == []
    (subscription,) = await store.subscriptions()
    assert (subscription.id, subscription.enabled) == (WEBHOOK_ID, True)
    dead = await store.deliveries(WEBHOOK_ID, status=DeliveryStatus.DEAD, limit=10)
    assert [d.id for d in dead] == [DELIVERY_ID]


async def test_a_trail_failing_after_the_change_is_a_503_saying_it_was_done(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    # Never migrated: the trail exists but every write to it fails in the driver.
    broken = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-audit.sqlite3'}")
    try:
        async with running_api(audit=AuditStore(broken), webhooks=webhook_api(engine)) as api:
            status, problem = await send(api, "POST", "/api/v1/webhooks", body=NEW_SUBSCRIPTION)
        assert status == 503
        (subscription,) = await WebhookStore(engine).subscriptions()
        assert problem["detail"] == (
            f"webhook.created {subscription.id!r} was done, but the audit trail is"
            " unavailable: it was not recorded"
        )
    finally:
        await broken.dispose()
