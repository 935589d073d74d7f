"""Event-loop lag: how late a task that asked to sleep ``interval_s`` wakes up.

Every callback in ccd (AMI frames, bus handlers, HTTP requests) runs on one event loop; a
handler that blocks it delays all of them. The probe sleeps on the injected clock and
records the overshoot, so a test steps time instead of waiting."""

from __future__ import annotations

import asyncio
import contextlib

from ccd.clock import Clock
from ccd.metrics.histogram import Histogram

DEFAULT_INTERVAL_S = 0.5
LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LoopLagProbe:
    def __init__(self, clock: Clock, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._clock = clock
        self.interval_s = interval_s
        self.samples = Histogram(LAG_BUCKETS_S)
        self.last_s: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("loop lag probe already started")
        self._task = asyncio.create_task(self._run(), name="ccd-loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            started = self._clock.monotonic()
            await self._clock.sleep(self.interval_s)
            self.record(self._clock.monotonic() - started - self.interval_s)

    def record(self, lag_s: float) -> None:
        lag_s = max(0.0, lag_s)
        self.last_s = lag_s
        self.samples.observe(lag_s)
