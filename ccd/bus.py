"""One bus, one order: events are published synchronously and delivered by one dispatcher.

AMI callbacks are synchronous; they translate and ``publish``. The dispatcher task hands
each event to every subscriber in subscription order, awaiting async handlers before the
next event, so every subscriber sees the same order. A failing handler is logged with the
event type and the rest still run.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

Handler = Callable[[Any], Awaitable[None] | None]

log = structlog.get_logger("ccd.bus")


class Bus:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._pending: deque[object] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.published = 0
        self.delivered = 0
        self.handler_errors = 0

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def publish(self, event: object) -> None:
        self._pending.append(event)
        self.published += 1
        self._idle.clear()
        self._wakeup.set()

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """Deliver events until cancelled."""
        while True:
            if not self._pending:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            event = self._pending.popleft()
            for handler in self._handlers:
                try:
                    result = handler(event)
                    if inspect.isawaitable(result):
                        await result
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.handler_errors += 1
                    log.exception(
                        "bus handler failed",
                        handler=getattr(handler, "__qualname__", repr(handler)),
                        event_type=type(event).__name__,
                    )
            self.delivered += 1

    async def drain(self) -> None:
        """Wait until every event published so far has been delivered."""
        await self._idle.wait()
