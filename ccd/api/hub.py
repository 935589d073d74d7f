"""Fan-out of live call changes to websocket clients.

``publish`` is synchronous (it is a bus handler): it serializes the change once and
offers the text to every subscriber's bounded queue without awaiting. A subscriber whose
queue is full is cut off on the spot — its queue is emptied and it is marked overflowed —
so one slow client can neither block the others nor make memory grow. The websocket
handler watches ``wait_overflowed`` and closes the connection.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from types import TracebackType

import structlog

from ccd.api.serialize import change_message
from ccd.domain.calls import CallChange

log = structlog.get_logger("ccd.api")

DEFAULT_QUEUE_SIZE = 1024


class SubscriberTooSlow(Exception):
    """The subscriber fell more than its queue size behind and was cut off."""


class Subscription:
    """One client's view of the hub. Use as a context manager so it is always removed."""

    def __init__(self, hub: EventHub, *, client: str, queue_size: int) -> None:
        self.client = client
        self._hub = hub
        self._queue_size = queue_size
        self._items: deque[str] = deque()
        self._ready = asyncio.Event()
        self._overflow = asyncio.Event()

    @property
    def overflowed(self) -> bool:
        return self._overflow.is_set()

    @property
    def pending(self) -> int:
        return len(self._items)

    async def get(self) -> str:
        """The next change as JSON text, in publish order. Raises ``SubscriberTooSlow``
        once the subscriber has overflowed."""
        while True:
            if self._overflow.is_set():
                raise SubscriberTooSlow(self.client)
            if self._items:
                return self._items.popleft()
            self._ready.clear()
            await self._ready.wait()

    async def wait_overflowed(self) -> None:
        await self._overflow.wait()

    def close(self) -> None:
        self._hub._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _offer(self, text: str) -> bool:
        """Queue ``text``; False (and overflowed) if the queue was already full."""
        if self._overflow.is_set():
            return False
        if len(self._items) >= self._queue_size:
            self._items.clear()  # the client is being dropped: free its backlog now
            self._overflow.set()
            self._ready.set()
            return False
        self._items.append(text)
        self._ready.set()
        return True


class EventHub:
    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.queue_size = queue_size
        self._subscribers: dict[Subscription, None] = {}  # insertion-ordered set
        self.published = 0
        self.disconnected_slow = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self, *, client: str = "") -> Subscription:
        """A new subscription that receives every change published from now on.
        ``client`` names it in log lines (e.g. the token id)."""
        subscription = Subscription(self, client=client, queue_size=self.queue_size)
        self._subscribers[subscription] = None
        return subscription

    def publish(self, change: CallChange) -> None:
        """Offer ``change`` to every subscriber; never blocks, never awaits."""
        self.published += 1
        if not self._subscribers:
            return
        text = json.dumps(change_message(change), separators=(",", ":"))
        for subscription in list(self._subscribers):
            if not subscription._offer(text):
                self._subscribers.pop(subscription, None)
                self.disconnected_slow += 1
                log.warning(
                    "websocket subscriber too slow, disconnecting",
                    client=subscription.client,
                    queue_size=self.queue_size,
                )

    def _remove(self, subscription: Subscription) -> None:
        self._subscribers.pop(subscription, None)
