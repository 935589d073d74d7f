"""API tokens over HTTP with the real token store (SQLite copy): the admin's listing and
revocation, expiry, and last use written in coalesced batches."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.audit_store import AuditStore
from ccd.db.engine import create_engine
from ccd.db.models import ApiToken
from ccd.db.tokens import TokenInfo, TokenStore
from ccd.domain.auth import Role
from tests.clock import T0, FakeClock, settle
from tests.integration.apifakes import running_api, send
from tests.integration.authmatrix import (
    IDENTITIES,
    MATRIX_TOKEN_ID,
    TOKEN_ENDPOINTS,
    call,
    expected_status,
    headers_for,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def store(engine: AsyncEngine, clock: FakeClock) -> TokenStore:
    return TokenStore(engine, clock=clock)


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("route", sorted(TOKEN_ENDPOINTS))
async def test_auth_matrix(
    route: str, identity: str, engine: AsyncEngine, store: TokenStore
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(ApiToken).values(
                id=MATRIX_TOKEN_ID,
                role="integrator",
                agent_id=None,
                token_hash="0" * 64,
                label="matrix",
                created_at=T0,
            )
        )
    endpoint = TOKEN_ENDPOINTS[route]
    async with running_api(token_admin=store, audit=AuditStore(engine, FakeClock(T0))) as api:
        status = await call(api, endpoint, headers_for(identity))
    assert status == expected_status(endpoint, identity)
    revoked = [info.token_id for info in await store.list() if info.revoked_at is not None]
    assert revoked == ([MATRIX_TOKEN_ID] if route == "tokens.revoke" and status == 200 else [])


async def test_listing_shows_expiry_status_and_last_use_but_no_secret(
    store: TokenStore, clock: FakeClock
) -> None:
    crm_id, crm = await store.create(
        Role.INTEGRATOR, label="crm", expires_at=T0 + timedelta(days=90)
    )
    clock.advance(60)
    old_id, _ = await store.create(Role.ANALYST, label="bi", expires_at=T0 + timedelta(hours=1))
    agent_id, _ = await store.create(Role.AGENT, "1001", "desk 3")
    await store.revoke(agent_id)
    store.record_use(crm_id, "198.51.100.7")
    await store.flush()
    clock.advance(3600)  # the analyst token has expired now

    async with running_api(token_admin=store) as api:
        api.clock.current = clock.now()
        response = await api.client.get("/api/v1/tokens", headers=api.auth("admin"))
        text = await response.text()
        status, body = await send(api, "GET", "/api/v1/tokens")
    assert status == 200
    assert body["count"] == 3
    views = {view["id"]: view for view in body["tokens"]}
    crm_view, old_view, agent_view = views[crm_id], views[old_id], views[agent_id]
    assert body["tokens"][0] == crm_view  # oldest first
    assert crm_view == {
        "id": crm_id,
        "role": "integrator",
        "agent_id": None,
        "label": "crm",
        "status": "active",
        "created_at": "2026-11-25T09:00:00.000Z",
        "expires_at": "2027-02-23T09:00:00.000Z",
        "revoked_at": None,
        "last_used_at": "2026-11-25T09:01:00.000Z",
        "last_used_from": "198.51.100.7",
    }
    assert (old_view["id"], old_view["status"], old_view["last_used_at"]) == (
        old_id,
        "expired",
        None,
    )
    assert (agent_view["status"], agent_view["expires_at"]) == ("revoked", None)
    secret = crm.split("_", 2)[2]
    assert secret not in text
    assert hashlib.sha256(secret.encode()).hexdigest() not in text
    assert "hash" not in text


async def test_revoke_is_audited_and_takes_effect_at_once(
    engine: AsyncEngine, store: TokenStore
) -> None:
    token_id, token = await store.create(Role.INTEGRATOR, label="crm")
    audit = AuditStore(engine, FakeClock(T0))
    async with running_api(token_admin=store, tokens=store, audit=audit) as api:
        me = await api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status == 200
        # The admin's own token is the harness's; the store verifies only tokens it made.
        async with running_api(token_admin=store, audit=audit) as admin_api:
            status, body = await send(admin_api, "DELETE", f"/api/v1/tokens/{token_id}")
            assert (status, body) == (
                200,
                {"id": token_id, "revoked": True, "already_revoked": False},
            )
            status, body = await send(admin_api, "DELETE", f"/api/v1/tokens/{token_id}")
            assert (status, body["already_revoked"]) == (200, True)
            status, body = await send(admin_api, "DELETE", "/api/v1/tokens/ffffffffffff")
            assert (status, body["detail"]) == (404, "no such token")
            status, _ = await send(admin_api, "DELETE", f"/api/v1/tokens/{'f' * 33}")
            assert status == 404
        me = await api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status == 401
    [entry] = await audit.search(
        action="token.revoked", target_kind=None, target_id=None, since=None, until=None, limit=10
    )
    assert (entry.target_kind, entry.target_id, entry.actor_token_id) == (
        "token",
        token_id,
        "t-admin",
    )


async def test_tokens_route_without_a_store_is_503() -> None:
    async with running_api() as api:
        status, body = await send(api, "GET", "/api/v1/tokens")
    assert status == 503
    assert body["detail"] == "tokens are not available in this process"


async def test_an_expired_token_is_401_saying_so(store: TokenStore, clock: FakeClock) -> None:
    _, token = await store.create(Role.INTEGRATOR, expires_at=T0 + timedelta(seconds=2))
    _, revoked = await store.create(Role.INTEGRATOR, expires_at=T0 + timedelta(seconds=2))
    await store.revoke(revoked.split("_")[1])
    wrong_secret = token[:-4] + "AAAA"
    async with running_api(tokens=store) as api:

        async def me(bearer: str) -> tuple[int, dict[str, object], str]:
            response = await api.client.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {bearer}"}
            )
            return (
                response.status,
                await response.json(),
                response.headers.get("WWW-Authenticate", ""),
            )

        assert (await me(token))[0] == 200  # and now cached for 5 s
        clock.advance(3)  # past the expiry, within the cache entry's life
        status, problem, challenge = await me(token)
        assert (status, problem["detail"]) == (401, "the bearer token has expired")
        assert challenge == 'Bearer realm="ccd", error="invalid_token"'
        clock.advance(10)  # the cache entry is gone: the database says the same
        assert (await me(token))[1]["detail"] == "the bearer token has expired"
        # Only a token whose secret matches learns it expired; revocation wins over expiry.
        assert (await me(wrong_secret))[1]["detail"] == "the bearer token is invalid or revoked"
        assert (await me(revoked))[1]["detail"] == "the bearer token is invalid or revoked"


async def test_last_use_is_noted_per_request_and_written_once_per_flush(
    store: TokenStore, clock: FakeClock
) -> None:
    token_id, token = await store.create(Role.INTEGRATOR, label="crm")
    other_id, other = await store.create(Role.ANALYST, label="bi")
    async with running_api(tokens=store) as api:
        for _ in range(5):
            response = await api.client.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status == 200
        info = (await listed(store))[token_id]
        assert info.last_used_at is None  # nothing written per request
        assert await store.flush() == 1  # five uses, one UPDATE
        assert await store.flush() == 0
        info, other_info = (await listed(store))[token_id], (await listed(store))[other_id]
        assert (info.last_used_at, info.last_used_from) == (T0, "127.0.0.1")
        assert other_info.last_used_at is None

        # The service's flusher: once a minute on the clock.
        flusher = asyncio.create_task(store.flush_every(60))
        await settle()
        clock.advance(30)
        response = await api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"})
        assert response.status == 200
        await clock.step(29)
        assert (await listed(store))[other_id].last_used_at is None
        await clock.step(1)
        await wait_for_last_use(store, other_id)
        flusher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flusher
    info, other_info = (await listed(store))[token_id], (await listed(store))[other_id]
    assert other_info.last_used_at == T0 + timedelta(seconds=30)
    assert info.last_used_at == T0  # not used since: not rewritten


async def listed(store: TokenStore) -> dict[str, TokenInfo]:
    return {info.token_id: info for info in await store.list()}


async def wait_for_last_use(store: TokenStore, token_id: str) -> None:
    for _ in range(200):
        if any(i.token_id == token_id and i.last_used_at for i in await store.list()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the flusher never wrote the last use")


async def test_without_an_audit_trail_no_token_is_revoked(store: TokenStore) -> None:
    token_id, _ = await store.create(Role.INTEGRATOR, label="crm")
    async with running_api(token_admin=store) as api:
        status, body = await send(api, "DELETE", f"/api/v1/tokens/{token_id}")
    assert (status, body["detail"]) == (503, "the audit trail is unavailable; retry later")
    [info] = [info for info in await store.list() if info.token_id == token_id]
    assert info.revoked_at is None


async def test_a_trail_failing_after_the_revocation_is_a_503_saying_it_was_done(
    store: TokenStore, tmp_path: Path
) -> None:
    token_id, _ = await store.create(Role.INTEGRATOR, label="crm")
    # Never migrated: the trail exists but every write to it fails in the driver.
    broken = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-audit.sqlite3'}")
    try:
        async with running_api(token_admin=store, audit=AuditStore(broken)) as api:
            status, body = await send(api, "DELETE", f"/api/v1/tokens/{token_id}")
    finally:
        await broken.dispose()
    assert (status, body["detail"]) == (
        503,
        f"token.revoked {token_id!r} was done, but the audit trail is unavailable:"
        " it was not recorded",
    )
    [info] = [info for info in await store.list() if info.token_id == token_id]
    assert info.revoked_at is not None
