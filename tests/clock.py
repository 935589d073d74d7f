"""A clock for tests: time moves only when the test says so, and sleepers wake exactly
when it reaches their deadline (``ccd.clock.Clock``)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._order), woken))
        await woken

    @property
    def sleepers(self) -> int:
        """Tasks waiting in ``sleep`` right now."""
        return sum(not woken.done() for _, _, woken in self._sleepers)

    def advance(self, seconds: float) -> None:
        """Move time on; every sleeper whose deadline passed is woken (it runs when the
        test next yields: ``await clock.step(...)`` does both)."""
        self._elapsed += seconds
        self.current += timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, woken = heapq.heappop(self._sleepers)
            if not woken.done():
                woken.set_result(None)

    async def step(self, seconds: float) -> None:
        """``advance`` and let everything it woke run until the loop has nothing ready."""
        self.advance(seconds)
        await settle()


async def settle(rounds: int = 20) -> None:
    """Let ready tasks run: yield to the loop until a few rounds pass with nothing new
    (no wall-clock wait: only work that is already runnable gets to run)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
