"""DialerStore and migration 0005 against a real SQLite database migrated with Alembic."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate
from ccd.db.dialer_store import (
    ATTEMPTS,
    ContactStatus,
    DialerConflict,
    DialerNotFound,
    DialerStore,
    DialerStoreUnavailable,
    ImportCounts,
    WriteMode,
)
from ccd.db.engine import create_engine
from ccd.db.models import metadata
from ccd.dialer.contacts import BadRow, ContactRow, GoodRow, read_contacts, read_dnc
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
from ccd.dialer.retries import DoneReason
from ccd.errors import UsageError
from tests.integration.apifakes import FixedClock
from tests.integration.sqlitedb import table_names

T0 = datetime(2026, 12, 12, 15, 0, tzinfo=UTC)
DIALER_TABLES = {"dialer_campaigns", "dialer_contacts", "dialer_attempts", "dialer_dnc"}

SPRING = Campaign(
    id="spring",
    name="Spring renewals",
    mode=DialMode.PREDICTIVE,
    caller_id="+12125550199",
    agent_ids=frozenset({"1001", "1002"}),
    queue_id="sales",
    windows=(
        CallingWindow(frozenset({Weekday.MON, Weekday.FRI}), time(9, 0), time(12, 30)),
        CallingWindow(frozenset({Weekday.SAT}), time(10, 0), time(14, 0, 30)),
    ),
    holidays=frozenset({date(2026, 12, 25), date(2027, 1, 1)}),
    ring_timeout_s=20.0,
    retries={Outcome.BUSY: RetryRule(300.0, 5), Outcome.NO_ANSWER: RetryRule(7200.0, 2)},
    abandon_cap_pct=2.5,
    amd=AmdMode.LEAVE_MESSAGE,
    safe_harbor_prompt="custom/safe-harbor",
    machine_message_prompt="custom/call-us-back",
    dispositions=("sale", "do-not-call", "call-back"),
    default_region="US",
)
AUTUMN = Campaign(id="autumn", name="Autumn", mode=DialMode.PROGRESSIVE, caller_id="5000")

CONTACTS_CSV = (
    "phone,name,plan\n"
    "(212) 555-0100,Alice,gold\n"
    "212 555 0101,Bob,silver\n"
    "not a number,Typo,\n"
    "+33 6 12 34 56 78,Chloé,gold\n"
    "212-555-0100,Alice twice,\n"
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def store(engine: AsyncEngine, clock: FixedClock) -> DialerStore:
    return DialerStore(engine, clock=clock)


def read(text: str, campaign: str = "spring") -> Iterator[ContactRow]:
    return read_contacts(io.StringIO(text), campaign_id=campaign, default_region="US")


async def test_migration_matches_the_models_and_round_trips(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}")
    try:
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == migrate.head_revisions()[0]
        assert await table_names(engine) >= DIALER_TABLES

        def differences(connection: Connection) -> list[object]:
            found = compare_metadata(MigrationContext.configure(connection), metadata)
            # Only the dialer's tables: the CDR prefix indexes are PostgreSQL-only.
            return [d for d in found if "dialer" in repr(d)]

        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []

        await migrate.downgrade(engine, "0004")
        assert await migrate.current(engine) == "0004"
        remaining = await table_names(engine)
        assert not DIALER_TABLES & remaining
        assert "cdrs" in remaining
        await migrate.upgrade(engine)
        assert await table_names(engine) >= DIALER_TABLES
    finally:
        await engine.dispose()


async def test_campaign_round_trip_keeps_every_field(store: DialerStore, clock: FixedClock) -> None:
    stored = await store.put_campaign(SPRING, mode=WriteMode.CREATE)
    assert stored.campaign == SPRING
    assert stored.created_at == stored.updated_at == T0
    await store.put_campaign(AUTUMN)  # every default survives too
    assert (await store.get_campaign("autumn")).campaign == AUTUMN  # type: ignore[union-attr]

    with pytest.raises(DialerConflict, match="already exists"):
        await store.put_campaign(SPRING, mode=WriteMode.CREATE)
    with pytest.raises(DialerNotFound, match="no campaign 'winter'"):
        await store.put_campaign(replace(SPRING, id="winter"), mode=WriteMode.UPDATE)

    clock.current = T0 + timedelta(minutes=3)
    changed = replace(SPRING, abandon_cap_pct=1.0, holidays=frozenset())
    updated = await store.put_campaign(changed, mode=WriteMode.UPDATE)
    assert updated.campaign == changed
    assert (updated.created_at, updated.updated_at) == (T0, T0 + timedelta(minutes=3))

    running = await store.set_campaign_state("spring", CampaignState.RUNNING)
    assert running.campaign.state is CampaignState.RUNNING
    assert [c.campaign.id for c in await store.list_campaigns()] == ["autumn", "spring"]
    with pytest.raises(DialerNotFound):
        await store.set_campaign_state("winter", CampaignState.PAUSED)


async def test_import_reports_bad_rows_and_is_idempotent(store: DialerStore) -> None:
    await store.put_campaign(SPRING)
    bad: list[BadRow] = []
    progress: list[ImportCounts] = []
    counts = await store.import_contacts(
        "spring",
        read(CONTACTS_CSV),
        batch_size=2,
        progress=progress.append,
        on_bad_row=bad.append,
    )
    assert counts == ImportCounts(read=5, accepted=3, new=3, rejected=2)
    assert [row.row for row in bad] == [4, 6]
    assert progress[-1] == counts
    assert len(progress) >= 2  # one per batch

    again = await store.import_contacts(
        "spring",
        read(CONTACTS_CSV),
    )
    assert again == ImportCounts(read=5, accepted=3, new=0, rejected=2)
    assert again.already_there == 3

    due = await store.due_contacts("spring")
    assert {entry.contact.name for entry in due} == {"Alice", "Bob", "Chloé"}
    chloe = next(entry for entry in due if entry.contact.name == "Chloé")
    assert chloe.contact.number == "+33612345678"
    assert chloe.contact.time_zones == ("Europe/Paris",)
    assert chloe.contact.fields == {"plan": "gold"}
    assert (chloe.status, chloe.attempts) == (ContactStatus.PENDING, 0)
    assert chloe.next_attempt_at is not None
    assert T0 - timedelta(milliseconds=1) < chloe.next_attempt_at <= T0  # due at once
    assert await store.get_contact(chloe.contact.id) == chloe
    counts_by_status = await store.contact_counts("spring")
    assert counts_by_status[ContactStatus.PENDING] == 3
    assert counts_by_status[ContactStatus.DONE] == 0


async def test_reimport_leaves_stored_contacts_alone(store: DialerStore, clock: FixedClock) -> None:
    await store.put_campaign(SPRING)
    rows = read("phone,name\n212 555 0100,Alice\n", "spring")
    await store.import_contacts("spring", rows)
    [before] = await store.due_contacts("spring")
    clock.current = T0 + timedelta(hours=1)
    rows = read("phone,name\n+12125550100,Renamed\n", "spring")
    assert (await store.import_contacts("spring", rows)).new == 0
    assert await store.get_contact(before.contact.id) == before


async def test_contacts_are_due_in_file_order(store: DialerStore) -> None:
    await store.put_campaign(SPRING)
    numbers = ["212 555 0109", "212 555 0101", "212 555 0105", "212 555 0100"]
    await store.import_contacts("spring", read("phone\n" + "\n".join(numbers) + "\n"))
    due = [c.contact.number for c in await store.due_contacts("spring")]
    assert due == ["+1" + n.replace(" ", "") for n in numbers]


async def test_reschedule_moves_a_pending_contact_or_ends_it_without_a_window(
    store: DialerStore,
) -> None:
    await store.put_campaign(SPRING)
    await store.import_contacts("spring", read("phone\n212 555 0100\n212 555 0101\n"))
    first, second = await store.due_contacts("spring")
    later = T0 + timedelta(hours=10)
    assert await store.reschedule(first.contact.id, at=later)
    assert [c.contact.id for c in await store.due_contacts("spring")] == [second.contact.id]
    assert len(await store.due_contacts("spring", now=later)) == 2
    assert await store.reschedule(second.contact.id, at=None)
    ended = await store.get_contact(second.contact.id)
    assert ended is not None
    assert ended.status is ContactStatus.DONE
    assert ended.done_reason is DoneReason.NO_WINDOW
    assert not await store.reschedule(second.contact.id, at=later)  # only pending ones move
    assert not await store.reschedule("no-such-contact", at=later)


async def test_import_into_an_unknown_campaign_is_refused(store: DialerStore) -> None:
    with pytest.raises(DialerNotFound, match="no campaign 'nope'"):
        await store.import_contacts("nope", iter(()))
    await store.put_campaign(SPRING)
    [row] = read("phone\n212 555 0100\n", campaign="autumn")
    assert isinstance(row, GoodRow)
    with pytest.raises(ValueError, match="belongs to 'autumn'"):
        await store.add_contacts("spring", [row.contact])


async def test_due_contacts_by_time_and_never_a_dnc_number(
    store: DialerStore, clock: FixedClock
) -> None:
    await store.put_campaign(SPRING)
    await store.put_campaign(AUTUMN)
    text = "phone\n212 555 0100\n212 555 0101\n212 555 0102\n"
    for campaign in ("spring", "autumn"):
        rows = read(text, campaign)
        await store.import_contacts(campaign, rows)
    assert await store.due_contacts("spring", now=T0 - timedelta(seconds=1)) == []
    assert len(await store.due_contacts("spring", limit=2)) == 2

    # Checked at query time: entries added after the import count.
    assert await store.add_dnc(["+12125550100"], source="test") == 1
    assert await store.add_dnc(["+12125550101"], campaign_id="spring") == 1
    spring = {entry.contact.number for entry in await store.due_contacts("spring")}
    autumn = {entry.contact.number for entry in await store.due_contacts("autumn")}
    assert spring == {"+12125550102"}
    assert autumn == {"+12125550101", "+12125550102"}  # only the global entry applies

    assert await store.remove_dnc("+12125550100")
    assert not await store.remove_dnc("+12125550100")
    assert len(await store.due_contacts("spring")) == 2


async def test_dnc_lists_semantics(store: DialerStore, clock: FixedClock) -> None:
    await store.put_campaign(SPRING)
    await store.put_campaign(AUTUMN)
    assert await store.add_dnc(["+12125550100", "+12125550100"], source="api") == 1
    clock.current = T0 + timedelta(minutes=1)
    assert await store.add_dnc(["+12125550100"]) == 0  # already on the global list
    assert await store.add_dnc(["+12125550100"], campaign_id="spring", source="disposition") == 1
    assert await store.add_dnc(["+12125550100"], campaign_id="spring") == 0
    assert await store.add_dnc(["+12125550199"], campaign_id="autumn") == 1

    entries = await store.dnc_entries("+12125550100", campaign_id="spring")
    assert [(e.campaign_id, e.source, e.added_at) for e in entries] == [
        (None, "api", T0),
        ("spring", "disposition", T0 + timedelta(minutes=1)),
    ]
    assert await store.is_blocked("+12125550100")
    assert await store.is_blocked("+12125550199", campaign_id="autumn")
    assert not await store.is_blocked("+12125550199", campaign_id="spring")
    assert not await store.is_blocked("+12125550199")  # global only

    # Removing from the campaign's list leaves the global entry.
    assert await store.remove_dnc("+12125550100", campaign_id="spring")
    assert await store.is_blocked("+12125550100", campaign_id="spring")
    assert [e.number for e in await store.list_dnc()] == ["+12125550100"]
    assert [e.number for e in await store.list_dnc(campaign_id="autumn")] == ["+12125550199"]
    assert await store.list_dnc(after="+12125550100") == []

    with pytest.raises(DialerNotFound):
        await store.add_dnc(["+12125550100"], campaign_id="winter")
    with pytest.raises(UsageError, match=r"not an E\.164 number"):
        await store.add_dnc(["212 555 0100"])
    with pytest.raises(UsageError, match=r"not an E\.164 number"):
        await store.is_blocked("2125550100")


async def test_dnc_import_in_batches(store: DialerStore) -> None:
    text = "+12125550100\n212 555 0101\nnope\n+12125550100\n"
    bad: list[BadRow] = []
    counts = await store.import_dnc(
        read_dnc(io.StringIO(text), default_region="US"), batch_size=1, on_bad_row=bad.append
    )
    assert counts == ImportCounts(read=4, accepted=3, new=2, rejected=1)
    assert [row.row for row in bad] == [3]
    again = await store.import_dnc(read_dnc(io.StringIO(text), default_region="US"))
    assert again.new == 0
    with pytest.raises(DialerNotFound):
        await store.import_dnc(iter(()), campaign_id="winter")


async def test_a_campaign_that_dialed_cannot_be_deleted(
    store: DialerStore, engine: AsyncEngine
) -> None:
    await store.put_campaign(SPRING)
    await store.put_campaign(AUTUMN)
    for campaign in ("spring", "autumn"):
        rows = read("phone\n212 555 0100\n", campaign)
        await store.import_contacts(campaign, rows)
    await store.add_dnc(["+12125550100"], campaign_id="autumn")
    [spring_contact] = await store.due_contacts("spring")
    async with engine.begin() as connection:
        await connection.execute(
            insert(ATTEMPTS).values(
                campaign_id="spring",
                contact_id=spring_contact.contact.id,
                number=spring_contact.contact.number,
                started_at=T0,
                outcome="no-answer",
                safe_harbor_played=False,
            )
        )
    with pytest.raises(DialerConflict, match="1 dial attempt"):
        await store.delete_campaign("spring")
    assert await store.get_campaign("spring") is not None

    assert await store.delete_campaign("autumn")
    assert not await store.delete_campaign("autumn")
    assert await store.list_dnc(campaign_id="autumn") == []
    assert await store.contact_counts("autumn") == {status: 0 for status in ContactStatus}


async def test_database_failure_is_a_clear_error(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        with pytest.raises(DialerStoreUnavailable, match="no such table: dialer_campaigns"):
            await DialerStore(engine).list_campaigns()
    finally:
        await engine.dispose()
