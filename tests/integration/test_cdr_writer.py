"""Spool → writer → database (the embedded SQLite): every record lands exactly once, a
failing database keeps records spooled and the backlog drains by itself afterwards.

The writer's waits (flush window, retry backoff, drain deadline) run on a FakeClock the
tests step; what happens in threads (fsync, SQLite) is awaited as a condition."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.cdr.codec import SpoolRecord
from ccd.cdr.service import CdrService
from ccd.cdr.spool import Spool
from ccd.cdr.writer import CdrWriter
from ccd.db import migrate
from ccd.db.cdr_store import ASTERISK_CDRS, CDRS, LEGS, BatchResult, CdrStore
from ccd.db.engine import create_engine
from ccd.domain.cdr import AsteriskCdr, CallRecord
from ccd.domain.events import AsteriskCdrReceived
from tests.cdrsamples import sample_asterisk_cdr, sample_call
from tests.clock import T0, FakeClock

FLUSH_S = 0.01
RETRY_MAX_S = 0.05


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ccd.sqlite3'}")
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def linkedids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(CDRS.c.linkedid).order_by(CDRS.c.linkedid))
        return [row[0] for row in rows]


@dataclass
class SwitchableDatabase:
    """The real store behind a switch: ``down`` makes every insert fail like a lost
    connection would."""

    store: CdrStore
    down: bool = False
    attempts: int = 0

    async def insert_batch(self, records: Sequence[SpoolRecord]) -> BatchResult:
        self.attempts += 1
        if self.down:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        return await self.store.insert_batch(records)


async def until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    """Wait for work that runs outside the event loop (fsync, SQLite in their threads):
    no event says it is done, so look again every few milliseconds, for at most
    ``within_s``. Never moves the fake clock."""
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110 (thread work: nothing to await)
            await asyncio.sleep(0.002)


async def step_when_waiting(clock: FakeClock, seconds: float) -> None:
    """Once some loop waits on the clock, move time on by ``seconds``."""
    await until(lambda: clock.sleepers > 0)
    await clock.step(seconds)


def opened_spool(directory: Path, clock: FakeClock, **kwargs: int) -> Spool:
    spool = Spool(directory, clock=clock, **kwargs)
    spool.open()
    return spool


def writer_for(
    spool: Spool,
    sink: object,
    clock: FakeClock,
    *,
    batch_size: int = 50,
    stall_after_s: float = 30.0,
) -> CdrWriter:
    return CdrWriter(
        spool,
        sink,  # type: ignore[arg-type]
        batch_size=batch_size,
        flush_interval_s=FLUSH_S,
        retry_min_s=0.01,
        retry_max_s=RETRY_MAX_S,
        stall_after_s=stall_after_s,
        rng=random.Random(7),
        clock=clock,
    )


async def drained(writer: CdrWriter, within_s: float = 5.0) -> bool:
    """``drain`` when nothing needs the clock (no retry, no deadline): bounded in real
    time in case something does after all."""
    async with asyncio.timeout(within_s):
        return await writer.drain(within_s)


async def test_store_inserts_once_and_counts_duplicates(engine: AsyncEngine) -> None:
    store = CdrStore(engine)
    first = await store.insert_batch(
        [sample_call("a", legs=2), sample_call("b", legs=3), sample_asterisk_cdr("a", "1")]
    )
    assert (first.calls_inserted, first.asterisk_cdrs_inserted, first.duplicates) == (2, 1, 0)
    again = await store.insert_batch(
        [
            sample_call("a", legs=2),
            sample_call("c", legs=1),
            sample_call("c", legs=1),
            sample_asterisk_cdr("a", "1"),
            sample_asterisk_cdr("a", "2"),
        ]
    )
    assert (again.calls_inserted, again.asterisk_cdrs_inserted, again.duplicates) == (1, 1, 2)
    assert await linkedids(engine) == ["a", "b", "c"]
    assert await count(engine, LEGS) == 6
    assert await count(engine, ASTERISK_CDRS) == 2
    async with engine.connect() as connection:
        row = (await connection.execute(select(CDRS).where(CDRS.c.linkedid == "a"))).one()
    expected = sample_call("a")
    assert row.started_at == expected.started_at
    assert row.started_at.tzinfo is not None
    assert row.direction == "inbound"
    assert row.disposition == "answered"
    assert row.ivr_path[0]["node"] == "main-menu"


async def test_spooled_records_are_written_once_and_the_spool_empties(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    clock = FakeClock()
    spool = opened_spool(tmp_path / "spool", clock, segment_max_records=10)
    writer = writer_for(spool, CdrStore(engine), clock, batch_size=7)
    writer.start()
    for n in range(45):
        spool.append(sample_call(f"call-{n:03d}"))
        writer.wake()
    spool.append(sample_asterisk_cdr("call-000", "1"))
    writer.wake()
    # Nothing is fsynced, so nothing is written, before the flush window ends.
    await step_when_waiting(clock, FLUSH_S / 2)
    assert spool.unsynced == 46
    await clock.step(FLUSH_S / 2)
    await until(lambda: spool.pending == 0)
    assert await drained(writer)
    assert await linkedids(engine) == [f"call-{n:03d}" for n in range(45)]
    assert await count(engine, LEGS) == 90
    assert await count(engine, ASTERISK_CDRS) == 1
    assert writer.written == 46
    assert writer.db_healthy
    assert writer.not_ready_reasons() == []
    assert list((tmp_path / "spool").glob("*.seg")) == []


async def test_database_down_keeps_records_spooled_then_drains_by_itself(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    clock = FakeClock()
    database = SwitchableDatabase(CdrStore(engine), down=True)
    spool = opened_spool(tmp_path / "spool", clock)
    writer = writer_for(spool, database, clock)
    writer.start()
    for n in range(20):
        spool.append(sample_call(f"call-{n:03d}"))
        writer.wake()
    await step_when_waiting(clock, FLUSH_S)
    await until(lambda: database.attempts == 1)
    # Each retry waits at most the backoff cap, on the clock.
    await step_when_waiting(clock, RETRY_MAX_S)
    await until(lambda: database.attempts == 2)
    await step_when_waiting(clock, RETRY_MAX_S)
    await until(lambda: database.attempts == 3)

    assert not writer.db_healthy
    assert writer.failing_since == T0 + timedelta(seconds=FLUSH_S)
    assert writer.backlog == 20
    assert writer.last_error is not None
    assert "ConnectionRefusedError" in writer.last_error
    (reason,) = writer.not_ready_reasons()
    assert reason == (
        "cdr: 20 records waiting in the spool; database writes failing since "
        f"2026-11-25T09:00:00+00:00 ({writer.last_error})"
    )
    assert writer.oldest_pending_age_s == pytest.approx(FLUSH_S + 2 * RETRY_MAX_S)
    assert await count(engine, CDRS) == 0

    database.down = False
    await step_when_waiting(clock, RETRY_MAX_S)
    await until(lambda: spool.pending == 0)
    assert database.attempts == 4
    assert writer.db_healthy
    assert writer.not_ready_reasons() == []
    assert await linkedids(engine) == [f"call-{n:03d}" for n in range(20)]
    assert await drained(writer)


async def test_drain_with_the_database_down_leaves_records_for_the_next_start(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    clock = FakeClock()
    directory = tmp_path / "spool"
    database = SwitchableDatabase(CdrStore(engine), down=True)
    spool = opened_spool(directory, clock)
    writer = writer_for(spool, database, clock)
    writer.start()
    for n in range(5):
        spool.append(sample_call(f"call-{n}"))
    writer.wake()
    draining = asyncio.create_task(writer.drain(0.3))
    await until(lambda: database.attempts == 1)  # drain fsyncs at once, the insert fails
    await clock.step(0.29)
    assert not draining.done()  # still retrying within its time
    await clock.step(0.01)
    async with asyncio.timeout(5):
        assert not await draining
    assert spool.pending == 5
    assert list(directory.glob("*.seg"))

    # Next start: replayed and written, exactly once.
    restarted = Spool(directory, clock=clock)
    assert restarted.open().records == 5
    second = writer_for(restarted, CdrStore(engine), clock)
    second.start()
    assert await drained(second)
    assert await linkedids(engine) == [f"call-{n}" for n in range(5)]
    assert list(directory.glob("*.seg")) == []


async def test_records_committed_but_not_acknowledged_are_not_duplicated(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    clock = FakeClock()
    directory = tmp_path / "spool"
    spool = opened_spool(directory, clock)
    records = [sample_call(f"call-{n}") for n in range(4)]
    for record in records:
        spool.append(record)
    await spool.sync()
    # The batch reached the database, then the process died before acknowledging it.
    await CdrStore(engine).insert_batch([e.record for e in await spool.take(10)])

    restarted = opened_spool(directory, clock)
    writer = writer_for(restarted, CdrStore(engine), clock)
    writer.start()
    assert await drained(writer)
    assert await count(engine, CDRS) == 4
    assert await count(engine, LEGS) == 8
    assert writer.duplicates_skipped == 4
    assert writer.written == 0


@dataclass
class ScriptedBuilder:
    """Test double for the pure builder: a call is finished when its marker event comes."""

    finished: dict[str, CallRecord] = field(default_factory=dict)
    seen: list[object] = field(default_factory=list)

    def apply(self, event: object) -> list[CallRecord]:
        self.seen.append(event)
        record = self.finished.pop(str(event), None)
        return [] if record is None else [record]

    def give_up_settling(self) -> list[CallRecord]:
        return []

    def asterisk_cdr(self, event: AsteriskCdrReceived) -> AsteriskCdr | None:
        fields = event.fields
        if "LinkedID" not in fields:
            return None
        return AsteriskCdr(
            linkedid=fields["LinkedID"],
            sequence=fields["Sequence"],
            uniqueid=fields.get("UniqueID", ""),
            received_at=event.at,
            fields=dict(fields),
        )


async def test_service_spools_what_the_builder_finishes(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    builder = ScriptedBuilder(finished={"end-a": sample_call("a"), "end-b": sample_call("b")})
    clock = FakeClock()
    spool = opened_spool(tmp_path / "spool", clock)
    writer = writer_for(spool, CdrStore(engine), clock)
    service = CdrService(builder, spool, writer)
    writer.start()
    now = clock.now()
    for event in ("start-a", "end-a", "noise", "end-b"):
        service.handle(event)
    service.handle(AsteriskCdrReceived(at=now, fields={"LinkedID": "a", "Sequence": "3"}))
    service.handle(AsteriskCdrReceived(at=now, fields={"Disposition": "ANSWERED"}))
    assert service.spooled == 3
    assert spool.pending == 3  # on disk before anything reached the database
    assert await drained(writer)
    assert await linkedids(engine) == ["a", "b"]
    assert await count(engine, ASTERISK_CDRS) == 1
    assert builder.seen == ["start-a", "end-a", "noise", "end-b"]


@dataclass
class HangingDatabase:
    """Accepts the connection, never answers: no error, and no progress either."""

    calls: int = 0

    async def insert_batch(self, records: Sequence[SpoolRecord]) -> BatchResult:
        self.calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_backlog_that_does_not_drain_is_reported_even_without_errors(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    database = HangingDatabase()
    spool = opened_spool(tmp_path / "spool", clock)
    writer = writer_for(spool, database, clock, stall_after_s=30.0)
    writer.start()
    spool.append(sample_call("stuck"))
    writer.wake()
    await step_when_waiting(clock, FLUSH_S)
    await until(lambda: database.calls == 1)
    await clock.step(29.0)
    assert writer.not_ready_reasons() == []  # 29 s: in flight, not yet stalled
    await clock.step(2.0)
    assert writer.not_ready_reasons() == [
        "cdr: 1 records waiting in the spool, the oldest for 31 s"
    ]
    assert writer.db_healthy
    draining = asyncio.create_task(writer.drain(0.1))
    await step_when_waiting(clock, 0.1)
    async with asyncio.timeout(5):
        assert not await draining
    assert Spool(tmp_path / "spool").open().records == 1  # still on disk for next start


@dataclass
class SlowDatabase:
    """Commits every batch ``delay_s`` of clock time after it is handed over; the first
    ``failures`` inserts fail at once."""

    clock: FakeClock
    delay_s: float
    failures: int = 0
    batches: list[int] = field(default_factory=list)

    async def insert_batch(self, records: Sequence[SpoolRecord]) -> BatchResult:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError(111, "Connect call failed")
        await self.clock.sleep(self.delay_s)
        self.batches.append(len(records))
        return BatchResult(
            calls=len(records),
            calls_inserted=len(records),
            asterisk_cdrs=0,
            asterisk_cdrs_inserted=0,
        )


async def test_write_latency_is_measured_per_committed_batch_on_the_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    database = SlowDatabase(clock, delay_s=0.2, failures=1)
    spool = opened_spool(tmp_path / "spool", clock)
    writer = writer_for(spool, database, clock)
    writer.start()
    for n in range(3):
        spool.append(sample_call(f"call-{n}"))
    writer.wake()
    await step_when_waiting(clock, FLUSH_S)  # fsync; the first insert fails at once
    await step_when_waiting(clock, RETRY_MAX_S)  # the retry starts, its commit takes 0.2 s
    await step_when_waiting(clock, 0.2)
    await until(lambda: spool.pending == 0)

    assert database.batches == [3]
    # One committed batch; the failed attempt is not a latency sample.
    assert writer.write_latency.count == 1
    assert writer.write_latency.sum == pytest.approx(0.2)
    cumulative = dict(writer.write_latency.cumulative())
    assert cumulative[0.1] == 0
    assert cumulative[0.25] == 1
    assert cumulative[float("inf")] == 1
    assert await drained(writer)
