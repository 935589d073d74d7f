"""Fan-out of live call changes to websocket clients.

``publish`` is synchronous (it is a bus handler): it serializes the change once and
offers the text to every subscriber's bounded queue without awaiting. A subscriber whose
queue is full is cut off on the spot — its queue is emptied and it is ended as too slow —
so one slow client can neither block the others nor make memory grow. The websocket
handler watches ``wait_ended`` and closes the connection.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections import deque
from types import TracebackType

import structlog

from ccd.api.serialize import JsonObject, change_message
from ccd.domain.calls import CallChange

log = structlog.get_logger("ccd.api")

DEFAULT_QUEUE_SIZE = 1024


class EndReason(enum.Enum):
    TOO_SLOW = "too slow"  # fell more than its queue size behind
    SHUTDOWN = "shutting down"  # ccd is stopping


class SubscriptionEnded(Exception):
    def __init__(self, reason: EndReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Subscription:
    """One client's view of the hub. Use as a context manager so it is always removed."""

    def __init__(self, hub: EventHub, *, client: str, queue_size: int) -> None:
        self.client = client
        self._hub = hub
        self._queue_size = queue_size
        self._items: deque[str] = deque()
        self._ready = asyncio.Event()
        self._ended = asyncio.Event()
        self.end_reason: EndReason | None = None

    @property
    def overflowed(self) -> bool:
        return self.end_reason is EndReason.TOO_SLOW

    @property
    def pending(self) -> int:
        return len(self._items)

    async def get(self) -> str:
        """The next change as JSON text, in publish order. Raises ``SubscriptionEnded``
        once the hub has ended this subscription (too slow, or shutting down)."""
        while True:
            if self.end_reason is not None:
                raise SubscriptionEnded(self.end_reason)
            if self._items:
                return self._items.popleft()
            self._ready.clear()
            await self._ready.wait()

    async def wait_ended(self) -> EndReason:
        """Wait until the hub ends this subscription; the connection should then close."""
        await self._ended.wait()
        assert self.end_reason is not None
        return self.end_reason

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
        """Queue ``text``; False (and ended as too slow) if the queue was already full."""
        if self.end_reason is not None:
            return False
        if len(self._items) >= self._queue_size:
            self._end(EndReason.TOO_SLOW)
            return False
        self._items.append(text)
        self._ready.set()
        return True

    def _end(self, reason: EndReason) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            self._items.clear()  # the client is being dropped: free its backlog now
            self._ready.set()
            self._ended.set()


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
        if not self._subscribers:
            self.published += 1
            return
        self.publish_message(change_message(change))

    def publish_message(self, message: JsonObject) -> None:
        """Offer a ready JSON message (e.g. the ACD's ``agent.state``) to every subscriber."""
        self.published += 1
        if not self._subscribers:
            return
        text = json.dumps(message, separators=(",", ":"))
        for subscription in list(self._subscribers):
            if not subscription._offer(text):
                self._subscribers.pop(subscription, None)
                self.disconnected_slow += 1
                log.warning(
                    "websocket subscriber too slow, disconnecting",
                    client=subscription.client,
                    queue_size=self.queue_size,
                )

    def close_all(self) -> None:
        """End every subscription (on shutdown) so websocket handlers close promptly."""
        for subscription in list(self._subscribers):
            subscription._end(EndReason.SHUTDOWN)
        self._subscribers.clear()

    def _remove(self, subscription: Subscription) -> None:
        self._subscribers.pop(subscription, None)
