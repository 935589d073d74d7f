"""Token lifetime and coalesced last use on a real PostgreSQL cluster (private schema):
the expiry and the address round-trip as timezone-aware values, and a batch of uses
is one flush."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate
from ccd.db.tokens import TokenStore
from ccd.domain.auth import Role, TokenExpired
from tests.clock import FakeClock

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


async def test_expiry_and_last_use_on_postgres(private_schema_engine: AsyncEngine) -> None:
    engine = private_schema_engine
    await migrate.upgrade(engine)
    clock = FakeClock(T0)
    store = TokenStore(engine, clock=clock, cache_ttl_s=0.001)
    crm_id, crm = await store.create(
        Role.INTEGRATOR, label="crm", expires_at=T0 + timedelta(hours=1)
    )
    bi_id, bi = await store.create(Role.ANALYST, label="bi")

    for token_id, token, source in [(crm_id, crm, "198.51.100.7"), (bi_id, bi, "2001:db8::1")]:
        principal = await store.verify(token)
        assert principal is not None
        assert principal.token_id == token_id
        store.record_use(principal.token_id, source)
        store.record_use(principal.token_id, source)
    assert await store.flush() == 2

    clock.advance(3600)
    with pytest.raises(TokenExpired):
        await store.verify(crm)
    assert await store.verify(bi) is not None

    listed = {info.token_id: info for info in await store.list()}
    assert listed[crm_id].expires_at == T0 + timedelta(hours=1)
    assert listed[crm_id].status(clock.now()) == "expired"
    assert (listed[crm_id].last_used_at, listed[crm_id].last_used_from) == (T0, "198.51.100.7")
    assert listed[bi_id].last_used_from == "2001:db8::1"
    assert listed[bi_id].expires_at is None
    assert listed[bi_id].status(clock.now()) == "active"
