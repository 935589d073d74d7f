"""The dialer store and migration 0005 on a real PostgreSQL cluster (scripts/pg-cluster), in
a private schema of the session database: JSON columns, ON CONFLICT DO NOTHING over the
partial unique indexes, the due-contacts query and its indexes, and the downgrade."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate
from ccd.db.dialer_store import ContactStatus, DialerStore, ImportCounts, WriteMode
from ccd.dialer.contacts import read_contacts, read_dnc
from ccd.dialer.model import (
    AmdMode,
    CallingWindow,
    Campaign,
    CampaignState,
    DialMode,
    Outcome,
    RetryRule,
    Weekday,
)
from tests.integration.apifakes import FixedClock
from tests.integration.sqlitedb import table_names

pytestmark = pytest.mark.postgres

DIALER_TABLES = {"dialer_campaigns", "dialer_contacts", "dialer_attempts", "dialer_dnc"}
T0 = datetime(2026, 12, 12, 15, 0, tzinfo=UTC)
SPRING = Campaign(
    id="spring",
    name="Spring renewals",
    mode=DialMode.PREDICTIVE,
    caller_id="+12125550199",
    agent_ids=frozenset({"1001"}),
    windows=(CallingWindow(frozenset({Weekday.MON, Weekday.TUE}), time(9, 0), time(17, 30)),),
    holidays=frozenset({date(2026, 12, 25)}),
    retries={Outcome.MACHINE: RetryRule(14400.0, 2)},
    amd=AmdMode.HANG_UP,
    safe_harbor_prompt="custom/safe-harbor",
    default_region="FR",
    state=CampaignState.PAUSED,
)
CSV = (
    "phone,name,time_zone,notes\n"
    '06 12 34 56 78,Chloé,,"likes ""blue"""\n'
    "+1 212 555 0100,Alice,America/Chicago;America/New_York,\n"
    "+7 912 345 67 89,Ivan,,\n"
    "01 23,Short,,\n"
    "+33612345678,Chloé again,,\n"
)


async def plan(engine: AsyncEngine, sql: str) -> str:
    async with engine.connect() as connection:
        await connection.execute(text("SET enable_seqscan = off"))
        rows = await connection.execute(text(f"EXPLAIN {sql}"))
        return "\n".join(row[0] for row in rows)


async def test_dialer_store_and_migration_0005(private_schema_engine: AsyncEngine) -> None:
    engine = private_schema_engine
    await migrate.upgrade(engine)
    assert await table_names(engine) >= DIALER_TABLES
    store = DialerStore(engine, clock=FixedClock(T0))

    assert (await store.put_campaign(SPRING, mode=WriteMode.CREATE)).campaign == SPRING
    counts = await store.import_contacts(
        "spring",
        read_contacts(io.StringIO(CSV), campaign_id="spring", default_region="FR"),
        batch_size=2,
    )
    assert counts == ImportCounts(read=5, accepted=3, new=3, rejected=2)
    again = await store.import_contacts(
        "spring", read_contacts(io.StringIO(CSV), campaign_id="spring", default_region="FR")
    )
    assert again.new == 0

    due = {entry.contact.name: entry for entry in await store.due_contacts("spring")}
    assert set(due) == {"Chloé", "Alice", "Ivan"}
    assert due["Chloé"].contact.fields == {"notes": 'likes "blue"'}
    assert due["Alice"].contact.time_zones == ("America/Chicago", "America/New_York")
    assert len(due["Ivan"].contact.time_zones) > 5
    ivan_due = due["Ivan"].next_attempt_at
    assert ivan_due is not None
    assert T0 - timedelta(milliseconds=1) < ivan_due <= T0  # due at once, in file order
    assert due["Ivan"].status is ContactStatus.PENDING

    # The global list and the campaign's, with ON CONFLICT over the partial indexes.
    dnc = read_dnc(io.StringIO("+33612345678\n+33612345678\n0612345679\n"), default_region="FR")
    assert (await store.import_dnc(dnc)).new == 2
    assert await store.add_dnc(["+33612345678"]) == 0
    assert await store.add_dnc(["+12125550100"], campaign_id="spring") == 1
    assert await store.add_dnc(["+12125550100"], campaign_id="spring") == 0
    assert {entry.contact.name for entry in await store.due_contacts("spring")} == {"Ivan"}
    assert await store.is_blocked("+12125550100", campaign_id="spring")
    assert not await store.is_blocked("+12125550100")
    assert await store.remove_dnc("+33612345678")
    assert {e.contact.name for e in await store.due_contacts("spring")} == {"Ivan", "Chloé"}

    # The queries the dialer runs use the indexes made for them.
    due_plan = await plan(
        engine,
        "SELECT id FROM dialer_contacts WHERE campaign_id = 'spring' AND status = 'pending' "
        "AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT 10",
    )
    assert "ix_dialer_contacts_due" in due_plan, due_plan
    global_plan = await plan(
        engine, "SELECT 1 FROM dialer_dnc WHERE number = '+1' AND campaign_id IS NULL"
    )
    assert "uq_dialer_dnc_global_number" in global_plan, global_plan
    campaign_plan = await plan(
        engine, "SELECT 1 FROM dialer_dnc WHERE number = '+1' AND campaign_id = 'spring'"
    )
    assert "uq_dialer_dnc_number_campaign_id" in campaign_plan, campaign_plan

    # Timestamps stay UTC-aware through timestamptz; the campaign comes back equal.
    stored = await store.get_campaign("spring")
    assert stored is not None
    assert stored.campaign == SPRING
    assert stored.created_at == T0

    await migrate.downgrade(engine, "0004")
    assert await migrate.current(engine) == "0004"
    assert not DIALER_TABLES & await table_names(engine)
    await migrate.upgrade(engine)
    assert await store.list_campaigns() == []
    assert await store.list_dnc() == []
