"""Writes survey answers to the database without losing them to a database blip.

An answer is handed over the moment the caller gives it (``put``, never blocking the
call) and kept in memory until a commit took it. Batches are written in order; a failed
write keeps its batch and is retried after a backoff (``ccd.backoff``, on the injected
clock) until the database answers again — for as long as it takes. Retrying is safe: the
store skips an answer already stored (one row per call and question).

What this does not cover, by choice: answers are not spooled to disk like CDRs, so a
crash or ``kill -9`` DURING a database outage loses the answers not yet written (at most
``max_pending``; on SIGTERM ``drain`` still tries for its budget). Past ``max_pending``
unwritten answers the oldest are dropped and counted (``dropped``), so a long outage cannot
grow memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import structlog

from ccd.backoff import Backoff
from ccd.cdr.writer import describe_error
from ccd.clock import Clock
from ccd.survey.model import SurveyAnswer

log = structlog.get_logger("ccd.survey.writer")

BATCH = 200


class AnswerSink(Protocol):
    async def insert(self, answers: Sequence[SurveyAnswer]) -> int: ...


class AnswerWriter:
    def __init__(
        self, sink: AnswerSink, clock: Clock, backoff: Backoff, *, max_pending: int = 10_000
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be positive")
        self._sink = sink
        self._clock = clock
        self._backoff = backoff
        self._max_pending = max_pending
        self._pending: deque[SurveyAnswer] = deque()  # not yet taken into a batch
        self._batch: list[SurveyAnswer] = []  # being written (retried until it is)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0
        self.failing_since: datetime | None = None
        self.last_error = ""

    @property
    def pending(self) -> int:
        """Answers not written yet (the batch being written included)."""
        return len(self._pending) + len(self._batch)

    def not_ready_reasons(self) -> list[str]:
        """For ``/readyz``: why answers are not reaching the database, if they are not."""
        if self.failing_since is None:
            return []
        since = self.failing_since.isoformat(timespec="seconds")
        return [
            f"survey: {self.pending} answers waiting; database writes failing since {since} "
            f"({self.last_error})"
        ]

    def put(self, answer: SurveyAnswer) -> None:
        self._pending.append(answer)
        if self.pending > self._max_pending and self._pending:
            # The oldest not yet in a batch: the batch being written stays whole.
            lost = self._pending.popleft()
            self.dropped += 1
            log.error(
                "survey answer dropped: too many unwritten answers",
                linkedid=lost.linkedid,
                question=lost.question,
                max_pending=self._max_pending,
            )
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ccd-survey-writer")

    async def drain(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for every answer to be written, then stop. True when
        nothing was left unwritten."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        left = self.pending
        if left:
            log.error("survey answers not written at shutdown", answers=left)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        return left == 0

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                self._batch = [
                    self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))
                ]
                await self._write(self._batch)
                self._batch = []
            self._idle.set()

    async def _write(self, batch: list[SurveyAnswer]) -> None:
        while True:
            try:
                inserted = await self._sink.insert(batch)
            except Exception as exc:  # any driver/database error: keep the batch, retry
                self.last_error = describe_error(exc)
                if self.failing_since is None:
                    self.failing_since = self._clock.now()
                log.warning(
                    "survey answers not written; kept, retrying",
                    error=self.last_error,
                    answers=len(batch),
                    first_linkedid=batch[0].linkedid,
                    attempt=self._backoff.attempt + 1,
                )
                await self._clock.sleep(self._backoff.next_delay())
                continue
            break
        if self.failing_since is not None:
            log.info("survey answer writes recovered", failing_since=self.failing_since)
        self.failing_since = None
        self._backoff.reset()
        self.written += inserted
        log.debug("survey answers written", answers=len(batch), inserted=inserted)
