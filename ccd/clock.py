"""Time has one owner: pure cores take ``now``; services get a Clock, which also measures
intervals and sleeps, so a test clock steps time exactly (Home Assistant's test clock)
instead of a test sleeping to let a loop run."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC (what records and events carry)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps, for intervals and timeouts."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
