"""Write-side fencing (high availability): a dialer claim commits only under the
leadership epoch the instance holds, so a leader that was superseded claims — and so
dials — nothing. tests/system/test_ha_postgres.py runs these on PostgreSQL too."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.dialer_attempts import AttemptStore, Fenced
from ccd.db.dialer_store import ContactStatus, DialerStore
from ccd.db.models import LeadershipRow
from ccd.dialer.model import Campaign, Contact, DialMode
from tests.clock import T0, FakeClock

LEADERSHIP = LeadershipRow.__table__
SPRING = Campaign(id="spring", name="Spring", mode=DialMode.PROGRESSIVE, caller_id="5000")


async def set_epoch(engine: AsyncEngine, epoch: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(LeadershipRow).where(LeadershipRow.id == 1).values(epoch=epoch)
        )


@pytest.fixture
async def dialer(engine: AsyncEngine) -> DialerStore:
    store = DialerStore(engine, clock=FakeClock(T0))
    await store.put_campaign(SPRING)
    await store.add_contacts(
        SPRING.id,
        [
            Contact(id=f"c{i}", campaign_id=SPRING.id, number=f"+1212555000{i}", time_zones=())
            for i in range(3)
        ],
    )
    return store


async def test_the_migration_starts_the_epoch_at_zero(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(LEADERSHIP))).all()
    assert [(row.id, row.epoch, row.holder) for row in rows] == [(1, 0, None)]


async def test_a_claim_under_the_current_epoch_is_taken(
    engine: AsyncEngine, dialer: DialerStore
) -> None:
    await set_epoch(engine, 4)
    store = AttemptStore(engine, clock=FakeClock(T0), epoch=lambda: 4)
    claimed = await store.claim("c0", channel_id="ccd-dial-1", now=T0.timestamp())
    assert claimed.contact.id == "c0"
    stored = await dialer.get_contact("c0")
    assert stored is not None
    assert stored.status is ContactStatus.DIALING


async def test_a_superseded_leader_claims_nothing(engine: AsyncEngine, dialer: DialerStore) -> None:
    await set_epoch(engine, 5)  # a newer leader took over
    store = AttemptStore(engine, clock=FakeClock(T0), epoch=lambda: 4)
    with pytest.raises(Fenced, match="epoch 4 is not the current one"):
        await store.claim("c1", channel_id="ccd-dial-2", now=T0.timestamp())
    stored = await dialer.get_contact("c1")
    assert stored is not None
    assert stored.status is ContactStatus.PENDING
    assert await store.attempts_of("c1") == []


async def test_an_instance_holding_no_epoch_claims_nothing(
    engine: AsyncEngine, dialer: DialerStore
) -> None:
    store = AttemptStore(engine, clock=FakeClock(T0), epoch=lambda: None)
    with pytest.raises(Fenced):
        await store.claim("c2", channel_id="ccd-dial-3", now=T0.timestamp())
    assert await store.attempts_of("c2") == []


async def test_without_high_availability_claims_ignore_the_epoch(
    engine: AsyncEngine, dialer: DialerStore
) -> None:
    await set_epoch(engine, 9)
    store = AttemptStore(engine, clock=FakeClock(T0))
    claimed = await store.claim("c2", channel_id="ccd-dial-4", now=T0.timestamp())
    assert claimed.attempt_number == 1
