"""The CDR writer: spool → database, in batches, until every record is committed.

Background loops. The *syncer* fsyncs what was appended, at most once per
``flush_interval_s`` (grouping many records into one fsync). Each of ``concurrency``
*inserters* takes up to ``batch_size`` durable records, inserts them in one transaction
and acknowledges them to the spool, which deletes segments whose records are all
committed. Two inserters keep the database busy while the other batch is being encoded
or committed; record order across batches does not matter (every insert is idempotent).
A database error keeps the batch in hand and retries it with capped, jittered
exponential backoff; nothing is dropped. ``drain`` is for shutdown: write what can be
written within the time given and leave the rest on disk for the next start.

Every wait (the flush window, the retry backoff, the drain deadline) and every reading of
the time goes through the injected ``Clock``, so a test steps time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Protocol

import structlog

from ccd.backoff import Backoff, BackoffPolicy
from ccd.cdr.codec import SpoolRecord, record_key
from ccd.cdr.spool import Spool, SpoolEntry
from ccd.clock import Clock, SystemClock
from ccd.db.cdr_store import BatchResult
from ccd.db.engine import driver_error
from ccd.metrics.histogram import Histogram

log = structlog.get_logger("ccd.cdr.writer")

# A backlog older than this while the database looks fine still means "not draining".
STALL_AFTER_S = 30.0


class CdrSink(Protocol):
    async def insert_batch(self, records: Sequence[SpoolRecord]) -> BatchResult: ...


class CdrWriter:
    def __init__(
        self,
        spool: Spool,
        sink: CdrSink,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.05,
        retry_min_s: float = 0.1,
        retry_max_s: float = 10.0,
        concurrency: int = 2,
        stall_after_s: float = STALL_AFTER_S,
        rng: random.Random | None = None,
        clock: Clock | None = None,
    ) -> None:
        if concurrency < 1 or batch_size < 1:
            raise ValueError("concurrency and batch_size must be at least 1")
        self._spool = spool
        self._sink = sink
        self._clock = clock or SystemClock()
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._concurrency = concurrency
        self._stall_after_s = stall_after_s
        self._backoff = Backoff(
            BackoffPolicy(min_s=min(retry_min_s, retry_max_s), max_s=retry_max_s, jitter="full"),
            rng or random.Random(),
        )
        self._appended = asyncio.Event()
        self._durable = asyncio.Event()
        self._committed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Batches taken and not yet committed, by inserter.
        self._in_hand: dict[int, list[SpoolEntry]] = {}
        self.last_error: str | None = None
        self.failing_since: datetime | None = None
        self.spool_error: str | None = None
        self.written = 0
        self.duplicates_skipped = 0
        # Seconds per committed batch (the insert that succeeded; failed ones are retried).
        self.write_latency = Histogram()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._tasks:
            raise RuntimeError("CDR writer already started")
        self._tasks = [asyncio.create_task(self._sync_loop(), name="ccd-cdr-sync")]
        self._tasks += [
            asyncio.create_task(self._insert_loop(n), name=f"ccd-cdr-insert-{n}")
            for n in range(self._concurrency)
        ]
        # Records recovered from an earlier run are already durable.
        self._appended.set()
        self._durable.set()

    def wake(self) -> None:
        """New records were appended to the spool."""
        self._appended.set()

    async def drain(self, timeout_s: float) -> bool:
        """Write what can be written within ``timeout_s``, then stop. True when the spool
        is empty; otherwise the rest stays on disk and is replayed on the next start."""
        await self._within(timeout_s, self._written_out())
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        # Whatever is left must be on disk for real before the process exits.
        with contextlib.suppress(OSError):
            await self._spool.sync()
        left = self._spool.pending
        self._spool.close()
        if left:
            log.warning(
                "cdr records left in the spool at shutdown; written on next start",
                pending=left,
                last_error=self.last_error,
            )
        else:
            log.info("cdr spool drained", written=self.written)
        return left == 0

    async def _written_out(self) -> None:
        await self._sync()
        while self._spool.pending:
            self._committed.clear()
            await self._committed.wait()

    async def _within(self, seconds: float, work: Coroutine[object, object, None]) -> None:
        """Run ``work`` until it ends or ``seconds`` pass on the clock (``asyncio.timeout``
        in the clock's time: an error from ``work`` propagates, the deadline does not)."""
        worker = asyncio.create_task(work)
        deadline = asyncio.create_task(self._clock.sleep(seconds))
        try:
            await asyncio.wait((worker, deadline), return_when=asyncio.FIRST_COMPLETED)
        finally:
            worker.cancel()
            deadline.cancel()
            await asyncio.gather(worker, deadline, return_exceptions=True)
        if not worker.cancelled() and (error := worker.exception()) is not None:
            raise error

    # ---------------------------------------------------------------------- status

    @property
    def spool(self) -> Spool:
        return self._spool

    @property
    def db_healthy(self) -> bool:
        """False from the first failed batch until the next committed one."""
        return self.failing_since is None

    @property
    def backlog(self) -> int:
        return self._spool.pending

    @property
    def oldest_pending_age_s(self) -> float | None:
        candidates = [batch[0].appended_at for batch in self._in_hand.values() if batch]
        untaken = self._spool.oldest_untaken_at()
        if untaken is not None:
            candidates.append(untaken)
        oldest = min(candidates, default=None)
        return None if oldest is None else max(0.0, self._clock.now().timestamp() - oldest)

    def not_ready_reasons(self) -> list[str]:
        reasons: list[str] = []
        backlog = self.backlog
        if self.spool_error is not None:
            reasons.append(f"cdr: spool fsync failing ({self.spool_error})")
        if self.failing_since is not None:
            since = self.failing_since.isoformat(timespec="seconds")
            reasons.append(
                f"cdr: {backlog} records waiting in the spool; database writes failing since "
                f"{since} ({self.last_error})"
            )
        elif backlog:
            age = self.oldest_pending_age_s
            if age is not None and age > self._stall_after_s:
                reasons.append(
                    f"cdr: {backlog} records waiting in the spool, the oldest for {age:.0f} s"
                )
        return reasons

    # ----------------------------------------------------------------------- loops

    async def _sync_loop(self) -> None:
        while True:
            await self._appended.wait()
            # Let appends accumulate: one fsync for everything in this window.
            await self._clock.sleep(self._flush_interval_s)
            self._appended.clear()
            try:
                await self._sync()
            except OSError as exc:
                self.spool_error = f"{type(exc).__name__}: {exc}"
                log.warning("cdr spool fsync failed; retrying", error=self.spool_error)
                self._appended.set()
                await self._clock.sleep(self._backoff.policy.max_s)

    async def _sync(self) -> None:
        if await self._spool.sync():
            self._durable.set()
        self.spool_error = None

    async def _insert_loop(self, inserter: int) -> None:
        while True:
            if not self._spool.ready:
                self._durable.clear()
                await self._durable.wait()
                continue
            batch = await self._spool.take(self._batch_size)
            if batch:
                self._in_hand[inserter] = batch
                try:
                    await self._write(batch)
                finally:
                    del self._in_hand[inserter]

    async def _write(self, batch: list[SpoolEntry]) -> None:
        records = [entry.record for entry in batch]
        while True:
            started = self._clock.monotonic()
            try:
                result = await self._sink.insert_batch(records)
            except Exception as exc:  # any driver/database error: keep the batch, retry
                self._failed(exc, records)
                await self._clock.sleep(self._backoff.next_delay())
                continue
            break
        elapsed_s = self._clock.monotonic() - started
        self.write_latency.observe(elapsed_s)
        self._spool.ack(batch)
        self.written += result.calls_inserted + result.asterisk_cdrs_inserted
        self.duplicates_skipped += result.duplicates
        if self.failing_since is not None:
            log.info(
                "cdr database writes recovered",
                failing_since=self.failing_since.isoformat(),
                backlog=self._spool.pending,
            )
        self.failing_since = None
        self._backoff.reset()
        self._committed.set()
        log.debug(
            "cdr batch written",
            records=len(records),
            inserted=result.calls_inserted + result.asterisk_cdrs_inserted,
            duplicates=result.duplicates,
            backlog=self._spool.pending,
            elapsed_ms=round(elapsed_s * 1000, 1),
        )

    def _failed(self, exc: Exception, records: Sequence[SpoolRecord]) -> None:
        self.last_error = describe_error(exc)
        if self.failing_since is None:
            self.failing_since = self._clock.now()
        log.warning(
            "cdr batch not written; kept in the spool, retrying",
            error=self.last_error,
            records=len(records),
            first_linkedid=record_key(records[0]),
            last_linkedid=record_key(records[-1]),
            backlog=self._spool.pending,
            attempt=self._backoff.attempt + 1,
        )


def describe_error(exc: BaseException) -> str:
    """The driver's own message, first line, without SQL or parameters."""
    name, first_line = driver_error(exc)
    return f"{name}: {first_line[:200]}" if first_line else name
