"""Webhook deliveries: events into the outbox, the outbox out to receivers.

Intake is synchronous (bus handler, ACD/dialer message callback): an event some enabled
subscription wants is queued in memory and written to the outbox by the intake task
within moments; ``call.ended`` skips that queue — its rows are written in the CDR batch's
own transaction (``cdr_outbox``). Call handling never waits for a receiver.

The dispatch task reads each subscription's oldest pending rows, lets the pure picker
(``ccd.webhooks.schedule``) choose what may go now (order per call, a bounded number in
flight per subscription), and sends each in a task of its own; an attempt's outcome is
written back (delivered, retry at, or dead). Every wait is on the injected Clock. A crash
loses no row that reached the outbox: anything not marked delivered is sent again, with
the same ``webhook-id`` (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from ccd.clock import Clock
from ccd.db.stores import StoreConflict, StoreUnavailable
from ccd.db.webhook_store import WebhookStore
from ccd.domain.cdr import CallRecord
from ccd.domain.events import AgentRingStarted, QueueConnected
from ccd.live.ports import CallDirectory
from ccd.webhooks import payloads
from ccd.webhooks.model import Delivery, Subscription
from ccd.webhooks.schedule import InFlight, Pending, RetryPolicy, next_due, pick, retry_at
from ccd.webhooks.sender import Attempt, Sender
from ccd.webhooks.signing import headers, secret_key

log = structlog.get_logger("ccd.webhooks")

# Events queued for the outbox while the database is unreachable; past this the oldest go.
MAX_INTAKE = 100_000
INTAKE_BATCH = 500
PURGE_INTERVAL_S = 3600.0
MAX_CONFLICTS = 3


class WebhookService:
    def __init__(
        self,
        *,
        store: WebhookStore,
        sender: Sender,
        clock: Clock,
        calls: CallDirectory,
        retry: RetryPolicy,
        per_subscription: int,
        poll_interval_s: float,
        log_bodies: bool = False,
        keep_delivered_s: float = 7 * 86_400,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._sender = sender
        self._clock = clock
        self._calls = calls
        self._retry = retry
        self._per_subscription = per_subscription
        self._poll_interval_s = poll_interval_s
        self._log_bodies = log_bodies
        self._keep_delivered_s = keep_delivered_s
        self._next_purge = 0.0  # clock.monotonic() of the next sweep of old deliveries
        self._rng = rng or random.Random()
        self._subscriptions: list[Subscription] = []
        self._intake: deque[payloads.Event] = deque()
        self._intake_ready = asyncio.Event()
        self._intake_empty = asyncio.Event()
        self._intake_empty.set()
        self._wakeup = asyncio.Event()
        self._in_flight: dict[str, InFlight] = {}
        # Attempts recorded per delivery since the last outbox read began: a read that
        # started before an outcome was written may return the row as it was (stale).
        self._settled: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._waiting = False
        self._sends: set[asyncio.Task[None]] = set()
        self.dropped = 0
        self.sent = 0
        self.failed = 0

    # ---- subscriptions -------------------------------------------------------------

    async def refresh(self) -> None:
        """Re-read the subscriptions (after a change over the API)."""
        self._subscriptions = await self._store.subscriptions()
        self._wakeup.set()

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except StoreUnavailable as exc:
            log.warning("webhook subscriptions unreadable", error=str(exc))
            await self._clock.sleep(self._poll_interval_s)

    def _wanting(self, event_type: str) -> list[Subscription]:
        return [s for s in self._subscriptions if s.wants(event_type)]

    # ---- intake ----------------------------------------------------------------------

    def handle(self, event: object) -> None:
        """Bus handler (after the live model, so a ring sees the call's IVR path)."""
        match event:
            case AgentRingStarted(linkedid=linkedid):
                self.emit(payloads.call_ringing(event, self._calls.call(linkedid)))
            case QueueConnected():
                self.emit(payloads.call_answered(event))

    def on_message(self, message: Mapping[str, Any]) -> None:
        """The ACD's and the dialer's live messages (agent.state, queue.*, campaign.*)."""
        event = payloads.from_message(message, self._clock.now())
        if event is not None:
            self.emit(event)

    def emit(self, event: payloads.Event) -> None:
        if not self._wanting(event.type):
            return
        if len(self._intake) >= MAX_INTAKE:
            dropped = self._intake.popleft()
            self.dropped += 1
            log.error("webhook intake full: event dropped", event_type=dropped.type)
        self._intake.append(event)
        self._intake_empty.clear()
        self._intake_ready.set()

    async def cdr_outbox(
        self, connection: AsyncConnection, calls: Sequence[CallRecord], written_at: datetime
    ) -> None:
        """``call.ended`` rows, in the CDR batch's transaction (``CdrStore``)."""
        entries = [
            (subscription.id, event)
            for call in calls
            for event in (payloads.call_ended(call, written_at),)
            for subscription in self._wanting(event.type)
        ]
        if entries:
            # Only subscriptions still there: a row for a deleted one would fail the
            # CDR batch itself (foreign key).
            existing = await self._store.existing_in(connection, {s for s, _ in entries})
            entries = [(s, event) for s, event in entries if s in existing]
            await self._store.add_in(connection, entries, written_at)
            self._wakeup.set()

    async def _run_intake(self) -> None:
        failures = conflicts = 0
        while True:
            if not self._intake:
                self._intake_ready.clear()
                await self._intake_ready.wait()
                continue
            batch = [self._intake[i] for i in range(min(INTAKE_BATCH, len(self._intake)))]
            entries = [(s.id, event) for event in batch for s in self._wanting(event.type)]
            try:
                await self._store.add(entries, self._clock.now())
            except StoreUnavailable as exc:
                failures += 1
                log.warning("webhook outbox write failed; retrying", error=str(exc))
                await self._clock.sleep(min(self._poll_interval_s * failures, 30.0))
                continue
            except StoreConflict as exc:
                # A subscription was deleted (by another process, or just now): re-read
                # them and write the batch for those that remain — unless re-reading did
                # not help (then the batch goes, below).
                conflicts += 1
                if conflicts <= MAX_CONFLICTS:
                    log.info("webhook subscriptions changed under the outbox; re-reading")
                    await self._refresh_quietly()
                    continue
                log.error("webhook outbox refuses the batch; events dropped", error=str(exc))
                self.dropped += len(batch)
            except Exception:
                # A bug must not stop every webhook: this batch is lost, and said so.
                log.exception("webhook outbox write failed; events dropped", events=len(batch))
                self.dropped += len(batch)
            failures = conflicts = 0
            for _ in batch:
                self._intake.popleft()
            if not self._intake:
                self._intake_empty.set()
            self._wakeup.set()

    # ---- dispatch ----------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run_intake(), name="ccd-webhooks-intake"),
            asyncio.create_task(self._run_dispatch(), name="ccd-webhooks-dispatch"),
        ]

    async def stop(self, timeout_s: float) -> None:
        """Write what intake still holds (within ``timeout_s``), then stop sending; rows
        not delivered stay pending for the next start."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._intake_empty.wait()
        for task in [*self._tasks, *self._sends]:
            task.cancel()
        for task in [*self._tasks, *self._sends]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    @property
    def idle(self) -> bool:
        """Nothing in flight or queued, and the dispatcher waits for time or a wake-up
        (what a test with a stepped clock waits for before moving time on)."""
        return (
            self._waiting and not self._wakeup.is_set() and not self._in_flight and not self._intake
        )

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def intake_backlog(self) -> int:
        return len(self._intake)

    async def _run_dispatch(self) -> None:
        while True:
            self._wakeup.clear()
            delay = self._poll_interval_s
            try:
                await self._purge_when_due()
                delay = await self._dispatch_once()
            except StoreUnavailable as exc:
                log.warning("webhook outbox unreadable; retrying", error=str(exc))
            except Exception:
                log.exception("webhook dispatch failed; retrying")
            await self._wait(delay)

    async def _purge_when_due(self) -> None:
        """Hourly: forget deliveries delivered more than ``keep_delivered_s`` ago."""
        if self._clock.monotonic() < self._next_purge:
            return
        self._next_purge = self._clock.monotonic() + PURGE_INTERVAL_S
        cutoff = self._clock.now() - timedelta(seconds=self._keep_delivered_s)
        purged = await self._store.purge_delivered(cutoff)
        if purged:
            log.info("webhook deliveries purged", deliveries=purged, before=cutoff.isoformat())

    async def _dispatch_once(self) -> float:
        now = self._clock.now()
        by_id: dict[str, tuple[Delivery, Subscription]] = {}
        candidates: list[Pending] = []
        # Enough rows to fill every slot past a few calls waiting on their earlier events;
        # reading more per wake-up costs more than it finds.
        fetch = self._per_subscription * 10
        known_before_read = list(self._settled)
        fetched: list[tuple[Delivery, Subscription]] = []
        for subscription in self._subscriptions:
            if not subscription.enabled:
                continue
            for delivery in await self._store.pending(subscription.id, fetch):
                fetched.append((delivery, subscription))
        # No await from here to the picks: what is in flight and settled is current.
        stale: list[InFlight] = []
        for delivery, subscription in fetched:
            if self._settled.get(delivery.id, -1) > delivery.attempts:
                # Read before its last outcome was written: not a candidate, and it still
                # holds its call's place — a later event of the call must not overtake it.
                stale.append(InFlight(delivery.subscription_id, delivery.order_key))
                continue
            by_id[delivery.id] = (delivery, subscription)
            candidates.append(
                Pending(
                    delivery_id=delivery.id,
                    subscription_id=delivery.subscription_id,
                    order_key=delivery.order_key,
                    seq=delivery.seq,
                    due_at=delivery.next_attempt_at,
                )
            )
        for delivery_id in known_before_read:
            # Written before this read began: the read saw it.
            self._settled.pop(delivery_id, None)
        for chosen in pick(
            candidates,
            [*self._in_flight.values(), *stale],
            now=now,
            per_subscription=self._per_subscription,
        ):
            delivery, subscription = by_id[chosen.delivery_id]
            self._in_flight[delivery.id] = InFlight(subscription.id, delivery.order_key)
            self._spawn(self._send(delivery, subscription))
        due = next_due(candidates, now)
        if due is None:
            return self._poll_interval_s
        return max(0.0, min(self._poll_interval_s, (due - now).total_seconds()))

    async def _wait(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        woken = asyncio.ensure_future(self._wakeup.wait())
        self._waiting = True
        try:
            await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiting = False
            for waiter in (sleeper, woken):
                waiter.cancel()
            for waiter in (sleeper, woken):
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="ccd-webhooks-send")
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, delivery: Delivery, subscription: Subscription) -> None:
        bound = log.bind(
            subscription_id=subscription.id,
            webhook_id=delivery.id,
            event_type=delivery.event_type,
            attempt=delivery.attempts + 1,
        )
        try:
            started = self._clock.monotonic()
            at = self._clock.now()
            signed = headers(
                secret_key(subscription.secret), delivery.id, int(at.timestamp()), delivery.payload
            )
            attempt = await self._sender.post(subscription.url, delivery.payload, signed)
            finished = self._clock.now()
            took_ms = round((self._clock.monotonic() - started) * 1000, 1)
            await self._record(delivery, attempt, finished, took_ms, bound)
            self._settled[delivery.id] = delivery.attempts + 1
        except StoreUnavailable as exc:
            # The outcome is lost: the row stays pending and goes again (at-least-once).
            bound.warning("webhook outcome not recorded", error=str(exc))
        except Exception:
            bound.exception("webhook send failed")
        finally:
            self._in_flight.pop(delivery.id, None)
            self._wakeup.set()

    async def _record(
        self,
        delivery: Delivery,
        attempt: Attempt,
        finished: datetime,
        took_ms: float,
        bound: Any,
    ) -> None:
        extra = {"body": delivery.payload.decode()} if self._log_bodies else {}
        if attempt.ok:
            assert attempt.status is not None
            latency_ms = (finished - delivery.created_at).total_seconds() * 1000
            await self._store.delivered(
                delivery.id, at=finished, status=attempt.status, latency_ms=latency_ms
            )
            self.sent += 1
            bound.info("webhook delivered", status=attempt.status, took_ms=took_ms, **extra)
            return
        self.failed += 1
        failures = delivery.attempts + 1
        again = retry_at(
            self._retry,
            window_start=delivery.window_start,
            failures=failures,
            now=finished,
            draw=self._rng.random(),
        )
        await self._store.failed(
            delivery.id,
            at=finished,
            status=attempt.status,
            error=attempt.error or "failed",
            retry_at=again,
        )
        if again is None:
            bound.error("webhook dead-lettered", error=attempt.error, **extra)
        else:
            bound.warning(
                "webhook attempt failed",
                error=attempt.error,
                retry_at=again.isoformat(),
                took_ms=took_ms,
                **extra,
            )
