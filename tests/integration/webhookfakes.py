"""Real HTTP receivers on 127.0.0.1:<port 0> for the webhook tests, and a delivering
service on a FakeClock over a test's SQLite database."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from ccd.db.webhook_store import WebhookStore, new_subscription_id
from ccd.live.ports import CallDirectory
from ccd.webhooks.model import Subscription
from ccd.webhooks.schedule import RetryPolicy
from ccd.webhooks.sender import Sender
from ccd.webhooks.service import WebhookService
from ccd.webhooks.signing import new_secret
from tests.clock import FakeClock
from tests.integration.apifakes import FakeCalls


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers with ``status`` (a callable may change it per request); ``hold`` (when set)
    keeps every request waiting until it is set; ``answer_bytes`` pads the answer."""

    url: str = ""
    status: Callable[[int], int] = lambda n: 200
    hold: asyncio.Event | None = None
    answer_bytes: int = 0
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    attempt_ids: list[str] = field(default_factory=list)  # webhook-id of every attempt
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.attempts += 1
        self.attempt_ids.append(request.headers.get("webhook-id", ""))
        status = self.status(self.attempts)
        if self.hold is not None:
            await self.hold.wait()
        if 200 <= status < 300:
            self.received.append(Received(dict(request.headers), body))
        async with self.arrived:
            self.arrived.notify_all()
        if self.answer_bytes:
            response = web.StreamResponse(status=status)
            response.content_length = self.answer_bytes
            await response.prepare(request)
            chunk = b"x" * 65536
            with contextlib.suppress(ConnectionError):
                for _ in range(self.answer_bytes // len(chunk)):
                    await response.write(chunk)
            return response
        return web.Response(status=status, text="ok")

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s), self.arrived:
            await self.arrived.wait_for(predicate)


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    async with server:
        receiver.url = str(server.make_url("/hook"))
        try:
            yield receiver
        finally:
            if receiver.hold is not None:
                receiver.hold.set()  # the server waits for its handlers when it closes


@dataclass
class Harness:
    store: WebhookStore
    service: WebhookService
    clock: FakeClock

    async def subscribe(
        self, url: str, event_types: tuple[str, ...] = ("*",), *, secret: str | None = None
    ) -> Subscription:
        now = self.clock.now()
        subscription = Subscription(
            id=new_subscription_id(),
            url=url,
            event_types=event_types,
            secret=secret or new_secret(),
            enabled=True,
            description="",
            created_at=now,
            updated_at=now,
        )
        await self.store.create(subscription)
        await self.service.refresh()
        return subscription


@contextlib.asynccontextmanager
async def delivering(
    engine: AsyncEngine,
    *,
    clock: FakeClock,
    calls: CallDirectory | None = None,
    allow_private: bool = True,
    timeout_s: float = 5.0,
    retry: RetryPolicy | None = None,
    per_subscription: int = 4,
    max_response_bytes: int = 64 * 1024,
) -> AsyncIterator[Harness]:
    store = WebhookStore(engine)
    sender = Sender(
        allow_private=allow_private,
        connect_timeout_s=2.0,
        timeout_s=timeout_s,
        max_response_bytes=max_response_bytes,
    )
    service = WebhookService(
        store=store,
        sender=sender,
        clock=clock,
        calls=calls if calls is not None else FakeCalls(),
        retry=retry or RetryPolicy(min_s=5, max_s=60, give_up_after_s=3600),
        per_subscription=per_subscription,
        poll_interval_s=3600,  # tests wake the worker or step the clock
        rng=random.Random(7),
    )
    await sender.start()
    service.start()
    try:
        yield Harness(store, service, clock)
    finally:
        await service.stop(2.0)
        await sender.close()


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Wait for real IO (HTTP, the database) to reach a state; fail after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - a database row has no event to await
            await asyncio.sleep(0.01)
