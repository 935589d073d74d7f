"""AttemptStore and migration 0006 against a real SQLite database migrated with Alembic.

tests/system/test_dialer_attempts_postgres.py runs these same tests on PostgreSQL: they
reach the database only through the ``engine`` fixture, which that module replaces."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db import migrate
from ccd.db.dialer_attempts import (
    AttemptCounts,
    AttemptStore,
    ClaimedAttempt,
    ContactBlocked,
    StoredAttempt,
)
from ccd.db.dialer_store import (
    ContactStatus,
    DialerConflict,
    DialerNotFound,
    DialerStore,
    StoredContact,
)
from ccd.db.models import metadata
from ccd.dialer.compliance import AnsweredCall
from ccd.dialer.model import AbandonTally, Campaign, Contact, DialMode, Outcome
from ccd.dialer.retries import Dial, Done, DoneReason
from ccd.domain.contract import AmdStatus
from tests.clock import FakeClock

NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2026, 12, 12, 15, 0, tzinfo=UTC)
NOW = T0.timestamp()
SPRING = Campaign(id="spring", name="Spring", mode=DialMode.PREDICTIVE, caller_id="5000")
AUTUMN = Campaign(id="autumn", name="Autumn", mode=DialMode.PROGRESSIVE, caller_id="5000")
ANSWERED = Done(DoneReason.ANSWERED)
NEW_COLUMNS = {
    "dialer_attempts": {"safe_harbor_at", "amd_status", "action_id", "call_back"},
    "dialer_contacts": {"call_back", "done_reason", "last_outcome"},
}


def contact(index: int, campaign: str = "spring") -> Contact:
    return Contact(
        id=f"{campaign}-{index}",
        campaign_id=campaign,
        number=f"+1212555{index:04d}",
        time_zones=("America/New_York",),
    )


@pytest.fixture
async def dialer(engine: AsyncEngine) -> DialerStore:
    """The campaigns spring (contacts spring-0..9) and autumn (autumn-0..1)."""
    store = DialerStore(engine, clock=FakeClock(T0))
    for campaign, count in ((SPRING, 10), (AUTUMN, 2)):
        await store.put_campaign(campaign)
        await store.add_contacts(campaign.id, [contact(i, campaign.id) for i in range(count)])
    return store


@pytest.fixture
def attempts(engine: AsyncEngine, dialer: DialerStore) -> AttemptStore:
    return AttemptStore(engine, clock=FakeClock(T0))


async def contact_row(dialer: DialerStore, contact_id: str) -> StoredContact:
    stored = await dialer.get_contact(contact_id)
    assert stored is not None
    return stored


async def status_of(dialer: DialerStore, contact_id: str) -> ContactStatus:
    return (await contact_row(dialer, contact_id)).status


async def place(
    attempts: AttemptStore,
    contact_id: str,
    *,
    start: float,
    outcome: Outcome,
    answered: float | None = None,
    amd: str | None = None,
    connected: float | None = None,
    safe_harbor: float | None = None,
    end: float | None = None,
) -> int:
    """One whole call of ``contact_id``, event by event; its attempt id."""
    claimed = await attempts.claim(contact_id, channel_id=f"ch-{contact_id}", now=start)
    attempt = claimed.attempt_id
    if answered is not None:
        await attempts.answered(attempt, at=answered, amd_status=amd)
    if safe_harbor is not None:
        await attempts.safe_harbor(attempt, at=safe_harbor)
    if connected is not None:
        await attempts.connected(attempt, agent_id="1001", at=connected)
    ended = end if end is not None else start + 60
    await attempts.finish(attempt, outcome=outcome, ended_at=ended, next=ANSWERED)
    return attempt


async def test_migration_0006_matches_the_models_and_round_trips(engine: AsyncEngine) -> None:
    def differences(connection: Connection) -> list[object]:
        found = compare_metadata(MigrationContext.configure(connection), metadata)
        return [d for d in found if "dialer" in repr(d)]

    def columns(connection: Connection) -> dict[str, set[str]]:
        found = inspect(connection)
        return {table: {c["name"] for c in found.get_columns(table)} for table in NEW_COLUMNS}

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    await migrate.downgrade(engine, "0005")
    async with engine.connect() as connection:
        remaining = await connection.run_sync(columns)
    assert all(not NEW_COLUMNS[table] & remaining[table] for table in NEW_COLUMNS)
    await migrate.upgrade(engine)
    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_claim_writes_the_attempt_and_takes_the_contact(
    attempts: AttemptStore, dialer: DialerStore
) -> None:
    claimed = await attempts.claim("spring-0", channel_id="ch-1", now=NOW, agent_id="1001")
    assert claimed == ClaimedAttempt(claimed.attempt_id, contact(0), 1, False, None)
    stored = await contact_row(dialer, "spring-0")
    assert (stored.status, stored.attempts) == (ContactStatus.DIALING, 1)
    assert [c.contact.id for c in await dialer.due_contacts("spring")] == [
        f"spring-{i}" for i in range(1, 10)
    ]
    [attempt] = await attempts.attempts_of("spring-0")
    assert attempt == StoredAttempt(
        attempt_id=claimed.attempt_id,
        campaign_id="spring",
        contact_id="spring-0",
        number="+12125550000",
        started_at=NOW,
        answered_at=None,
        connected_at=None,
        safe_harbor_at=None,
        ended_at=None,
        agent_id="1001",
        outcome=None,
        amd_status=None,
        disposition=None,
        action_id="ch-1",
        linkedid=None,
        call_back=False,
        safe_harbor_played=False,
    )

    with pytest.raises(DialerConflict, match="'spring-0' is not pending"):
        await attempts.claim("spring-0", channel_id="ch-2", now=NOW)
    with pytest.raises(DialerNotFound, match="no contact 'nope'"):
        await attempts.claim("nope", channel_id="ch-3", now=NOW)
    assert len(await attempts.attempts_of("spring-0")) == 1


async def test_concurrent_claims_of_one_contact_one_wins(attempts: AttemptStore) -> None:
    results = await asyncio.gather(
        *(attempts.claim("spring-0", channel_id=f"ch-{i}", now=NOW) for i in range(4)),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, ClaimedAttempt)]
    lost = [r for r in results if isinstance(r, DialerConflict)]
    assert (len(won), len(lost)) == (1, 3), results
    assert [a.attempt_id for a in await attempts.attempts_of("spring-0")] == [won[0].attempt_id]


async def test_a_dnc_entry_added_after_the_import_blocks_the_claim(
    attempts: AttemptStore, dialer: DialerStore
) -> None:
    await dialer.add_dnc(["+12125550000"])
    await dialer.add_dnc(["+12125550001"], campaign_id="spring")
    await dialer.add_dnc(["+12125550000"], campaign_id="autumn")  # another campaign's list
    for blocked in ("spring-0", "spring-1", "autumn-0"):
        with pytest.raises(ContactBlocked, match="do-not-call"):
            await attempts.claim(blocked, channel_id="ch", now=NOW)
        assert await status_of(dialer, blocked) is ContactStatus.PENDING
        assert await attempts.attempts_of(blocked) == []
    await attempts.claim("autumn-1", channel_id="ch", now=NOW)  # +12125550001: spring's only


async def test_finish_schedules_a_retry_then_ends_the_contact(
    attempts: AttemptStore, dialer: DialerStore
) -> None:
    first = (await attempts.claim("spring-0", channel_id="ch-1", now=NOW)).attempt_id
    retry = Dial(at=NOW + 3600, due=NOW + 3600)
    assert await attempts.finish(first, outcome=Outcome.NO_ANSWER, ended_at=NOW + 25, next=retry)
    stored = await contact_row(dialer, "spring-0")
    assert (stored.status, stored.next_attempt_at, stored.last_outcome) == (
        ContactStatus.PENDING,
        datetime.fromtimestamp(NOW + 3600, UTC),
        Outcome.NO_ANSWER,
    )
    assert (stored.call_back, stored.callback_owner, stored.done_reason) == (False, None, None)
    assert await attempts.history("spring-0") == [(NOW + 25, Outcome.NO_ANSWER)]

    second = await attempts.claim("spring-0", channel_id="ch-2", now=NOW + 3600)
    assert second.attempt_number == 2
    done = Done(DoneReason.MAX_ATTEMPTS)
    ended = NOW + 3630
    assert await attempts.finish(second.attempt_id, outcome=Outcome.BUSY, ended_at=ended, next=done)
    stored = await contact_row(dialer, "spring-0")
    assert (stored.status, stored.done_reason, stored.last_outcome, stored.next_attempt_at) == (
        ContactStatus.DONE,
        DoneReason.MAX_ATTEMPTS,
        Outcome.BUSY,
        None,
    )
    assert await attempts.history("spring-0") == [
        (NOW + 25, Outcome.NO_ANSWER),
        (ended, Outcome.BUSY),
    ]

    # A replayed hang-up changes nothing, whatever it says.
    assert not await attempts.finish(
        second.attempt_id, outcome=Outcome.FAILED, ended_at=NOW + 9999, next=retry
    )
    assert await dialer.get_contact("spring-0") == stored
    [_, again] = await attempts.attempts_of("spring-0")
    assert (again.outcome, again.ended_at) == (Outcome.BUSY, ended)
    with pytest.raises(DialerNotFound, match="no attempt '999999'"):
        await attempts.finish(999999, outcome=Outcome.BUSY, ended_at=NOW, next=done)


async def test_a_disposition_during_the_call_outlives_the_hang_up(
    attempts: AttemptStore, dialer: DialerStore
) -> None:
    attempt = (await attempts.claim("spring-0", channel_id="ch-1", now=NOW)).attempt_id
    await attempts.answered(attempt, at=NOW + 5, amd_status=None)
    await attempts.dispose(
        attempt, disposition="sale", agent_id="1001", next=ANSWERED, now=NOW + 50,
        do_not_call=False,
    )  # fmt: skip
    retry = Dial(at=NOW + 3600, due=NOW + 3600)
    assert await attempts.finish(attempt, outcome=Outcome.ABANDONED, ended_at=NOW + 60, next=retry)
    stored = await contact_row(dialer, "spring-0")
    assert (stored.status, stored.done_reason, stored.last_outcome) == (
        ContactStatus.DONE,
        DoneReason.ANSWERED,
        Outcome.ABANDONED,
    )


async def test_finish_never_undoes_a_later_claim(
    attempts: AttemptStore, dialer: DialerStore
) -> None:
    # The call back is disposed during the call, claimed again, and then the first
    # call's hang-up arrives: the contact belongs to the second attempt.
    first = (await attempts.claim("spring-0", channel_id="ch-1", now=NOW)).attempt_id
    await attempts.answered(first, at=NOW + 5, amd_status=None)
    back = Dial(at=NOW + 60, due=NOW + 60, call_back=True, owner="1001")
    await attempts.dispose(
        first, disposition="call-back", agent_id="1001", next=back, now=NOW, do_not_call=False
    )
    second = await attempts.claim("spring-0", channel_id="ch-2", now=NOW + 60)
    assert (second.call_back, second.call_back_owner) == (True, "1001")
    assert await attempts.finish(first, outcome=Outcome.ANSWERED, ended_at=NOW + 61, next=ANSWERED)
    stored = await contact_row(dialer, "spring-0")
    assert (stored.status, stored.last_outcome) == (ContactStatus.DIALING, None)
    assert [a.call_back for a in await attempts.attempts_of("spring-0")] == [False, True]


async def test_a_call_back_is_due_for_its_owner(
    attempts: AttemptStore, dialer: DialerStore
) -> None:
    claimed = await attempts.claim("spring-0", channel_id="ch-1", now=NOW)
    back = Dial(at=NOW + 600, due=NOW + 300, call_back=True, owner="1002")
    await attempts.finish(claimed.attempt_id, outcome=Outcome.BUSY, ended_at=NOW, next=back)
    later = datetime.fromtimestamp(NOW + 600, UTC)
    [due] = [
        c for c in await dialer.due_contacts("spring", now=later) if c.contact.id == "spring-0"
    ]
    assert (due.call_back, due.callback_owner, due.next_attempt_at) == (True, "1002", later)


async def test_events_keep_the_first_time_recorded(attempts: AttemptStore) -> None:
    attempt = (await attempts.claim("spring-0", channel_id="ch-1", now=NOW)).attempt_id
    await attempts.answered(attempt, at=NOW + 10, amd_status=None)
    await attempts.answered(attempt, at=NOW + 12, amd_status=AmdStatus.HUMAN)  # AMD decided
    await attempts.answered(attempt, at=NOW + 13, amd_status=None)
    await attempts.safe_harbor(attempt, at=NOW + 12.5)
    await attempts.safe_harbor(attempt, at=NOW + 14)
    await attempts.connected(attempt, agent_id="1001", at=NOW + 15.25)
    await attempts.connected(attempt, agent_id="1002", at=NOW + 16)
    [stored] = await attempts.attempts_of("spring-0")
    assert (stored.answered_at, stored.amd_status) == (NOW + 10, AmdStatus.HUMAN)
    assert (stored.safe_harbor_at, stored.safe_harbor_played) == (NOW + 12.5, True)
    assert (stored.connected_at, stored.agent_id) == (NOW + 15.25, "1001")
    assert await attempts.get(attempt) == stored
    assert await attempts.get(999999) is None
    for event in (
        attempts.answered(999999, at=NOW, amd_status=None),
        attempts.connected(999999, agent_id="1001", at=NOW),
        attempts.safe_harbor(999999, at=NOW),
    ):
        with pytest.raises(DialerNotFound, match="no attempt"):
            await event


async def test_a_do_not_call_disposition_puts_the_number_on_the_global_list(
    attempts: AttemptStore, dialer: DialerStore
) -> None:
    attempt = await place(
        attempts, "spring-0", start=NOW, outcome=Outcome.ANSWERED, answered=NOW + 5
    )
    assert await status_of(dialer, "spring-0") is ContactStatus.DONE
    asked = Dial(at=NOW + 600, due=NOW + 600, call_back=True)  # do-not-call wins over it
    disposed = await attempts.dispose(
        attempt, disposition="do-not-call", agent_id="1001", next=asked, now=NOW + 90,
        do_not_call=True,
    )  # fmt: skip
    assert (disposed.disposition, disposed.agent_id) == ("do-not-call", "1001")
    [entry] = await dialer.dnc_entries("+12125550000")
    assert (entry.campaign_id, entry.source) == (None, f"disposition:spring/{attempt}")
    assert entry.added_at == datetime.fromtimestamp(NOW + 90, UTC)
    stored = await contact_row(dialer, "spring-0")
    assert (stored.status, stored.done_reason, stored.call_back) == (
        ContactStatus.DONE,
        DoneReason.DO_NOT_CALL,
        False,
    )
    assert stored.last_outcome is Outcome.ANSWERED  # a disposition is not an outcome
    with pytest.raises(ContactBlocked):
        await attempts.claim("autumn-0", channel_id="ch", now=NOW)  # the same number

    # The same disposition again is harmless; another one is refused.
    again = await attempts.dispose(
        attempt, disposition="do-not-call", agent_id="1002", next=ANSWERED, now=NOW + 99,
        do_not_call=True,
    )  # fmt: skip
    assert again == disposed
    with pytest.raises(DialerConflict, match="already has disposition 'do-not-call'"):
        await attempts.dispose(
            attempt, disposition="sale", agent_id="1001", next=ANSWERED, now=NOW,
            do_not_call=False,
        )  # fmt: skip
    with pytest.raises(DialerNotFound, match="no attempt '999999'"):
        await attempts.dispose(
            999999, disposition="sale", agent_id="1001", next=ANSWERED, now=NOW,
            do_not_call=False,
        )  # fmt: skip
    assert len(await dialer.dnc_entries("+12125550000")) == 1


async def test_a_disposition_decides_the_final_state(
    attempts: AttemptStore, dialer: DialerStore
) -> None:
    attempt = await place(
        attempts, "spring-0", start=NOW, outcome=Outcome.ANSWERED, answered=NOW + 5
    )
    back = Dial(at=NOW + 7200, due=NOW + 7200, call_back=True, owner="1001")
    await attempts.dispose(
        attempt, disposition="call-back", agent_id="1001", next=back, now=NOW + 90,
        do_not_call=False,
    )  # fmt: skip
    stored = await contact_row(dialer, "spring-0")
    assert (stored.status, stored.call_back, stored.callback_owner, stored.done_reason) == (
        ContactStatus.PENDING,
        True,
        "1001",
        None,
    )
    assert stored.next_attempt_at == datetime.fromtimestamp(NOW + 7200, UTC)
    assert await dialer.list_dnc() == []


async def test_open_attempts(attempts: AttemptStore) -> None:
    await place(attempts, "spring-0", start=NOW, outcome=Outcome.BUSY)
    one = await attempts.claim("spring-1", channel_id="ch-a", now=NOW + 2)
    two = await attempts.claim("autumn-0", channel_id="ch-b", now=NOW + 1)
    assert [a.attempt_id for a in await attempts.open_attempts()] == [
        two.attempt_id,
        one.attempt_id,
    ]
    [spring] = await attempts.open_attempts("spring")
    assert (spring.attempt_id, spring.action_id, spring.ended_at) == (one.attempt_id, "ch-a", None)
    assert await attempts.open_attempts("winter") == []


async def test_daily_tallies_by_report_zone_day(attempts: AttemptStore) -> None:
    midnight = datetime(2026, 12, 12, 0, 0, tzinfo=NEW_YORK).timestamp()  # 05:00 UTC
    # Before New York's midnight (already Dec 12 in UTC): on Dec 11.
    before = midnight - 10
    await place(
        attempts, "spring-0", start=before, outcome=Outcome.ANSWERED, answered=midnight - 1,
        connected=midnight + 0.5,
    )  # fmt: skip
    await place(attempts, "spring-1", start=before, outcome=Outcome.ABANDONED, answered=before)
    # Just after it: Dec 12. Connected 2 s after the answer is in time, later is not.
    await place(
        attempts, "spring-2", start=midnight, outcome=Outcome.ANSWERED, answered=midnight + 2,
        connected=midnight + 4,
    )  # fmt: skip
    await place(
        attempts, "spring-3", start=midnight, outcome=Outcome.ANSWERED, answered=midnight + 1,
        connected=midnight + 3.01,
    )  # fmt: skip
    await place(
        attempts, "spring-4", start=midnight, outcome=Outcome.MACHINE, answered=midnight + 3,
        amd=AmdStatus.MACHINE,
    )  # fmt: skip
    await place(attempts, "spring-5", start=midnight, outcome=Outcome.NO_ANSWER)
    await place(attempts, "autumn-0", start=midnight, outcome=Outcome.ABANDONED, answered=midnight)

    found = await attempts.daily_tallies(
        "spring", since=midnight - 86400, report_zone="America/New_York"
    )
    assert found == {
        date(2026, 12, 11): AbandonTally(answered=2, abandoned=1),
        date(2026, 12, 12): AbandonTally(answered=2, abandoned=1),
    }
    in_utc = await attempts.daily_tallies("spring", since=midnight - 86400, report_zone="UTC")
    assert in_utc == {date(2026, 12, 12): AbandonTally(answered=4, abandoned=2)}
    assert await attempts.daily_tallies("spring", since=midnight, report_zone="UTC") == {
        date(2026, 12, 12): AbandonTally(answered=2, abandoned=1)
    }


async def test_answered_calls_stream_in_answer_order(attempts: AttemptStore) -> None:
    answers = [NOW + 30, NOW + 10, NOW + 20, NOW + 10, NOW + 40]
    ids = []
    for index, answered in enumerate(answers):
        ids.append(
            await place(
                attempts,
                f"spring-{index}",
                start=NOW,
                outcome=Outcome.MACHINE if index == 2 else Outcome.ABANDONED,
                answered=answered,
                safe_harbor=answered + 2.25 if index != 2 else None,
                connected=answered + 1.5 if index == 0 else None,
            )
        )
    await place(attempts, "spring-5", start=NOW, outcome=Outcome.NO_ANSWER)

    async def stream(until: float | None = None, batch: int = 2) -> Sequence[AnsweredCall]:
        return [
            call
            async for call in attempts.answered_calls(
                "spring", since=NOW + 10, until=until, batch_size=batch
            )
        ]

    calls = await stream()
    assert [call.attempt_id for call in calls] == [str(ids[i]) for i in (1, 3, 2, 0, 4)]
    assert calls[3] == AnsweredCall(
        attempt_id=str(ids[0]),
        contact_id="spring-0",
        number="+12125550000",
        answered_at=NOW + 30,
        connected_at=NOW + 31.5,
        person=True,
        safe_harbor_at=NOW + 32.25,
    )
    assert (calls[2].person, calls[2].safe_harbor_at) == (False, None)
    assert await stream(batch=1) == calls
    assert await stream(batch=100) == calls
    assert [call.answered_at for call in await stream(until=NOW + 30)] == [
        NOW + 10,
        NOW + 10,
        NOW + 20,
    ]
    with pytest.raises(ValueError, match="batch_size"):
        await stream(batch=0)


async def test_campaign_counts(attempts: AttemptStore) -> None:
    await place(attempts, "spring-0", start=NOW - 60, outcome=Outcome.BUSY)  # before `since`
    await place(
        attempts, "spring-1", start=NOW, outcome=Outcome.ANSWERED, answered=NOW + 5,
        connected=NOW + 6,
    )  # fmt: skip
    await place(attempts, "spring-2", start=NOW, outcome=Outcome.ABANDONED, answered=NOW + 5)
    await place(
        attempts, "spring-3", start=NOW, outcome=Outcome.MACHINE, answered=NOW + 5,
        amd=AmdStatus.MACHINE,
    )  # fmt: skip
    await place(attempts, "spring-4", start=NOW, outcome=Outcome.NO_ANSWER)
    flying = await attempts.claim("spring-5", channel_id="ch", now=NOW + 1)
    await attempts.answered(flying.attempt_id, at=NOW + 5, amd_status=AmdStatus.MACHINE)
    await attempts.claim("spring-6", channel_id="ch", now=NOW + 1)
    await attempts.claim("autumn-0", channel_id="ch", now=NOW + 1)

    assert await attempts.campaign_counts("spring", since=NOW) == AttemptCounts(
        dialed=6, answered=2, connected=1, machines=1, abandoned=1, in_flight=2
    )
    assert await attempts.campaign_counts("winter", since=NOW) == AttemptCounts()
