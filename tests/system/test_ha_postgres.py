"""The leader lock and lease (ccd.ha.postgres) on a real PostgreSQL cluster: two
instances' stores against one database, the lock freed by a cut connection, a stale
holder terminated, a superseded epoch refused; and the claim fence on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.clock import SystemClock
from ccd.db import migrate
from ccd.ha.election import LockAcquired, LockBusy, RenewalFailed, RenewalOk
from ccd.ha.postgres import PostgresLease
from tests.integration.test_ha_claims import *  # noqa: F403
from tests.system.conftest import PostgresCluster
from tests.system.rig import create_database

pytestmark = pytest.mark.postgres
LEASE_S = 2.0


@pytest.fixture
async def engine(private_schema_engine: AsyncEngine) -> AsyncEngine:
    """The claim tests' database (tests/integration/test_ha_claims.py): this schema."""
    await migrate.upgrade(private_schema_engine)
    return private_schema_engine


@pytest.fixture
async def database(postgres_cluster: PostgresCluster) -> str:
    url = await create_database(postgres_cluster)
    await migrate.upgrade(url)
    return url


@pytest.fixture
async def stores(database: str) -> AsyncIterator[tuple[PostgresLease, PostgresLease]]:
    def store(name: str) -> PostgresLease:
        return PostgresLease(
            database,
            instance=name,
            api_url=f"http://{name}:8080",
            lease_s=LEASE_S,
            query_timeout_s=2.0,
            clock=SystemClock(),
        )

    a, b = store("ccd-a"), store("ccd-b")
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def terminate_sessions(cluster: PostgresCluster, application_name: str) -> int:
    admin = await asyncpg.connect(
        host=str(cluster.directory), port=cluster.port, user="postgres", database="postgres"
    )
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1",
            application_name,
        )
    finally:
        await admin.close()
    return int(killed)


async def test_one_instance_holds_the_lock_the_other_sees_who(
    stores: tuple[PostgresLease, PostgresLease],
) -> None:
    a, b = stores
    first = await a.try_lock()
    assert isinstance(first, LockAcquired)
    assert first.epoch == 1
    assert first.previous_lease_left_s == 0.0
    second = await b.try_lock()
    assert isinstance(second, LockBusy)
    assert second.leader.instance == "ccd-a"
    assert second.leader.api_url == "http://ccd-a:8080"
    assert second.leader.epoch == 1
    assert second.lease_left_s is not None
    assert 0 < second.lease_left_s <= LEASE_S
    assert second.holder_pid is not None
    assert isinstance(await a.renew(1), RenewalOk)


async def test_a_cut_connection_frees_the_lock_and_the_next_holder_waits_out_the_lease(
    stores: tuple[PostgresLease, PostgresLease], postgres_cluster: PostgresCluster
) -> None:
    a, b = stores
    assert isinstance(await a.try_lock(), LockAcquired)
    assert await terminate_sessions(postgres_cluster, "ccd-ha ccd-a") == 1
    renewal = await a.renew(1)
    assert isinstance(renewal, RenewalFailed)
    assert renewal.lost
    taken = await b.try_lock()
    assert isinstance(taken, LockAcquired)
    assert taken.epoch == 2
    # ccd-a may still act until its lease is over: ccd-b is told how long that is.
    assert 0 < taken.previous_lease_left_s <= LEASE_S


async def test_a_holder_whose_lease_ran_out_is_terminated_and_superseded(
    stores: tuple[PostgresLease, PostgresLease],
) -> None:
    a, b = stores
    assert isinstance(await a.try_lock(), LockAcquired)
    await asyncio.sleep(LEASE_S + 1.3)  # ccd-a "paused": no renewal
    busy = await b.try_lock()
    assert isinstance(busy, LockBusy)
    assert busy.lease_left_s is not None
    assert busy.lease_left_s < -1.0
    assert busy.holder_pid is not None
    assert await b.terminate(busy.holder_pid)
    taken = await b.try_lock()
    assert isinstance(taken, LockAcquired)
    assert (taken.epoch, taken.previous_lease_left_s) == (2, 0.0)
    # ccd-a wakes up: its session, its lock and its epoch are gone.
    late = await a.renew(1)
    assert isinstance(late, RenewalFailed)
    assert late.lost


async def test_a_renewal_under_an_old_epoch_is_refused(
    stores: tuple[PostgresLease, PostgresLease],
) -> None:
    a, _b = stores
    assert isinstance(await a.try_lock(), LockAcquired)
    refused = await a.renew(7)
    assert isinstance(refused, RenewalFailed)
    assert refused.lost
    assert "epoch 7 superseded" in refused.reason


async def test_a_holder_that_stops_gives_its_lease_up_and_the_next_one_need_not_wait(
    stores: tuple[PostgresLease, PostgresLease],
) -> None:
    a, b = stores
    assert isinstance(await a.try_lock(), LockAcquired)
    await a.close()
    taken = await b.try_lock()
    assert isinstance(taken, LockAcquired)
    assert (taken.epoch, taken.previous_lease_left_s) == (2, 0.0)
