"""Webhook deliveries to real HTTP receivers on 127.0.0.1:<port 0>: signed (verified by
the reference ``standardwebhooks`` library), durable, retried, ordered per call, isolated
per subscriber, bounded, SSRF-guarded, dead-lettered and replayed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from ccd.db.cdr_store import CdrStore
from ccd.domain.cdr import IvrStep
from ccd.domain.events import AgentRingStarted, QueueConnected
from ccd.webhooks.model import DeliveryStatus
from ccd.webhooks.payloads import Event
from ccd.webhooks.schedule import RetryPolicy
from tests.cdrsamples import sample_call
from tests.clock import FakeClock
from tests.integration.apifakes import FakeCalls, make_call
from tests.integration.webhookfakes import Harness, Receiver, delivering, receiving, until


def event(n: int, call: str = "c1", type_: str = "agent.state") -> Event:
    return Event(type=type_, order_key=f"call:{call}", at=datetime.now(UTC), data={"n": n})


async def statuses(harness: Harness, subscription_id: str) -> list[str]:
    rows = await harness.store.deliveries(subscription_id, status=None, limit=1000)
    return [d.status.value for d in reversed(rows)]


async def reach(harness: Harness, subscription_id: str, expected: list[str]) -> None:
    """Wait until the outbox rows of ``subscription_id`` have ``expected`` statuses."""

    async def reached() -> bool:
        return await statuses(harness, subscription_id) == expected

    await until(reached)


def numbers(receiver: Receiver) -> list[int]:
    return [json.loads(r.body)["data"]["n"] for r in receiver.received]


async def test_screen_pop_is_signed_and_carries_the_ivr_data(engine: AsyncEngine) -> None:
    clock = FakeClock(datetime.now(UTC))  # the reference verifier checks the timestamp
    path = (
        IvrStep("welcome", clock.now(), digits="1"),
        IvrStep("account", clock.now(), digits="4711", variables={"account": "4711"}),
        IvrStep("lookup", clock.now(), variables={"crm_status": "gold"}),
    )
    live = dataclasses.replace(make_call("1700000000.9", caller_num="+493012345"), ivr_path=path)
    async with (
        receiving(Receiver()) as receiver,
        delivering(engine, clock=clock, calls=FakeCalls([live])) as harness,
    ):
        subscription = await harness.subscribe(receiver.url, ("call.*",))
        harness.service.handle(
            AgentRingStarted(clock.now(), "1700000000.9", "leg-1", "1001", "support")
        )
        harness.service.handle(
            QueueConnected(clock.now(), "1700000000.9", "support", "1001", 12.5, 30)
        )
        await receiver.wait_for(lambda: len(receiver.received) == 2)
    verifier = Webhook(subscription.secret)
    ringing, answered = (verifier.verify(r.body, r.headers) for r in receiver.received)
    assert ringing["type"] == "call.ringing"
    assert ringing["data"]["caller_num"] == "+493012345"
    assert ringing["data"]["caller_name"] == "Alice"
    assert ringing["data"]["queue"] == "support"
    assert ringing["data"]["agent_id"] == "1001"
    assert ringing["data"]["ivr_variables"] == {"account": "4711", "crm_status": "gold"}
    assert [step["node"] for step in ringing["data"]["ivr_path"]] == [
        "welcome",
        "account",
        "lookup",
    ]
    assert answered["type"] == "call.answered"
    assert answered["data"]["wait_s"] == 12.5
    first = receiver.received[0].headers
    assert first["webhook-id"].startswith("msg_")
    assert first["Content-Type"] == "application/json"


async def test_only_subscribed_types_are_sent(engine: AsyncEngine) -> None:
    clock = FakeClock()
    async with receiving(Receiver()) as receiver, delivering(engine, clock=clock) as harness:
        subscription = await harness.subscribe(receiver.url, ("queue.*",))
        harness.service.on_message({"type": "agent.state", "agent_id": "1001", "status": "idle"})
        harness.service.on_message({"type": "queue.caller_joined", "call_id": "c9", "queue": "q"})
        await reach(harness, subscription.id, ["delivered"])
    assert len(receiver.received) == 1
    assert json.loads(receiver.received[0].body)["type"] == "queue.caller_joined"


async def test_receiver_down_then_back_loses_nothing_and_keeps_the_order(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock()
    down = Receiver(status=lambda n: 503 if n <= 3 else 200)
    async with receiving(down) as receiver, delivering(engine, clock=clock) as harness:
        subscription = await harness.subscribe(receiver.url)
        for n in range(1, 6):
            harness.service.emit(event(n))

        async def recorded(failures: int) -> bool:
            rows = await harness.store.deliveries(subscription.id, status=None, limit=10)
            return harness.service.idle and any(d.attempts == failures for d in rows)

        # Each attempt of the first event fails; the others wait behind it (same call).
        for failures in (1, 2, 3):
            await until(lambda failures=failures: recorded(failures))  # type: ignore[misc]
            assert receiver.attempts == failures
            assert receiver.received == []
            await clock.step(61)
        await reach(harness, subscription.id, ["delivered"] * 5)
    assert numbers(receiver) == [1, 2, 3, 4, 5]
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(set(ids)) == 5
    rows = await harness.store.deliveries(subscription.id, status=None, limit=10)
    assert {d.id: d.attempts for d in rows}[ids[0]] == 4  # 3 failures, then delivered


async def test_a_retry_carries_the_same_webhook_id(engine: AsyncEngine) -> None:
    clock = FakeClock()
    flaky = Receiver(status=lambda n: 500 if n == 1 else 200)
    async with receiving(flaky) as receiver, delivering(engine, clock=clock) as harness:
        await harness.subscribe(receiver.url)
        harness.service.emit(event(1))
        await until(lambda: _true(receiver.attempts == 1 and harness.service.idle))
        await clock.step(61)
        await receiver.wait_for(lambda: len(receiver.received) == 1)
    assert len(receiver.attempt_ids) == 2
    assert receiver.attempt_ids[0] == receiver.attempt_ids[1]


async def _true(value: bool) -> bool:
    return value


async def test_a_slow_receiver_does_not_delay_a_fast_one(engine: AsyncEngine) -> None:
    clock = FakeClock()
    release = asyncio.Event()
    slow = Receiver(hold=release)
    async with (
        receiving(slow) as slow_receiver,
        receiving(Receiver()) as fast_receiver,
        delivering(engine, clock=clock, timeout_s=30) as harness,
    ):
        slow_sub = await harness.subscribe(slow_receiver.url)
        fast_sub = await harness.subscribe(fast_receiver.url)
        for n in range(20):
            harness.service.emit(event(n, call=f"c{n}"))
        await fast_receiver.wait_for(lambda: len(fast_receiver.received) == 20)
        # The slow one holds only its own slots (4 in flight), nothing delivered yet.
        await slow_receiver.wait_for(lambda: slow_receiver.attempts == 4)
        await reach(harness, fast_sub.id, ["delivered"] * 20)
        assert slow_receiver.attempts == 4
        release.set()
        await reach(harness, slow_sub.id, ["delivered"] * 20)
    # At-least-once, and here exactly once: no webhook-id arrived twice.
    for receiver in (fast_receiver, slow_receiver):
        assert len({r.headers["webhook-id"] for r in receiver.received}) == len(receiver.received)


async def test_a_hanging_receiver_times_out_and_is_retried(engine: AsyncEngine) -> None:
    clock = FakeClock()
    hang = asyncio.Event()
    hanging = Receiver(hold=hang)
    async with (
        receiving(hanging) as receiver,
        delivering(engine, clock=clock, timeout_s=0.3) as harness,
    ):
        subscription = await harness.subscribe(receiver.url)
        harness.service.emit(event(1))

        async def timed_out() -> bool:
            rows = await harness.store.deliveries(subscription.id, status=None, limit=1)
            return bool(rows) and rows[0].last_error == "timed out"

        await until(timed_out)
        (row,) = await harness.store.deliveries(subscription.id, status=None, limit=1)
        assert row.status is DeliveryStatus.PENDING
        assert row.next_attempt_at > row.created_at or row.attempts == 1
        hang.set()


async def test_a_500_answer_is_a_failed_attempt(engine: AsyncEngine) -> None:
    clock = FakeClock()
    async with (
        receiving(Receiver(status=lambda n: 500)) as receiver,
        delivering(engine, clock=clock) as harness,
    ):
        subscription = await harness.subscribe(receiver.url)
        harness.service.emit(event(1))

        async def failed() -> bool:
            rows = await harness.store.deliveries(subscription.id, status=None, limit=1)
            return bool(rows) and rows[0].last_status == 500

        await until(failed)
        stats = (await harness.store.stats())[subscription.id]
    assert stats.pending == 1
    assert stats.failed_attempts == 1
    assert stats.delivered == 0
    assert stats.last_failure_at is not None


async def test_a_10_mb_answer_is_cut_off(engine: AsyncEngine) -> None:
    clock = FakeClock()
    big = Receiver(answer_bytes=10 * 1024 * 1024)
    async with receiving(big) as receiver, delivering(engine, clock=clock) as harness:
        subscription = await harness.subscribe(receiver.url)
        harness.service.emit(event(1))
        harness.service.emit(event(2))

        async def delivered() -> bool:
            return await statuses(harness, subscription.id) == ["delivered", "delivered"]

        await until(delivered)


async def test_private_targets_are_refused_at_delivery_time(engine: AsyncEngine) -> None:
    clock = FakeClock()
    async with (
        receiving(Receiver()) as receiver,
        delivering(engine, clock=clock, allow_private=False) as harness,
    ):
        by_address = await harness.subscribe(receiver.url)
        # A name re-pointed at loopback after it was accepted (DNS rebinding).
        by_name = await harness.subscribe(receiver.url.replace("127.0.0.1", "localhost"))
        harness.service.emit(event(1))

        async def refused() -> bool:
            rows = [
                *(await harness.store.deliveries(by_address.id, status=None, limit=1)),
                *(await harness.store.deliveries(by_name.id, status=None, limit=1)),
            ]
            return len(rows) == 2 and all(r.last_error is not None for r in rows)

        await until(refused)
        errors = [
            (await harness.store.deliveries(s.id, status=None, limit=1))[0].last_error
            for s in (by_address, by_name)
        ]
    assert receiver.attempts == 0
    assert all(e is not None and e.startswith("refused:") and "loopback" in e for e in errors)


async def test_dead_letter_after_the_retry_window_then_replay(engine: AsyncEngine) -> None:
    clock = FakeClock()
    answer = {"status": 500}
    receiver_spec = Receiver(status=lambda n: answer["status"])
    retry = RetryPolicy(min_s=5, max_s=20, give_up_after_s=120)
    async with (
        receiving(receiver_spec) as receiver,
        delivering(engine, clock=clock, retry=retry) as harness,
    ):
        subscription = await harness.subscribe(receiver.url)
        harness.service.emit(event(1))
        harness.service.emit(event(2, call="c2"))

        async def dead() -> bool:
            return await statuses(harness, subscription.id) == ["dead", "dead"]

        await until(lambda: _true(receiver.attempts >= 2 and harness.service.idle))
        for _ in range(40):
            if await dead():
                break
            await clock.step(21)
            await until(lambda: _true(harness.service.idle))
        assert await dead()
        (first, second) = await harness.store.deliveries(
            subscription.id, status=DeliveryStatus.DEAD, limit=10
        )
        assert first.attempts >= 3
        answer["status"] = 200
        replayed = await harness.store.replay(subscription.id, second.id, clock.now())
        await harness.service.refresh()
        await reach(harness, subscription.id, ["delivered", "dead"])
        assert receiver.received[0].headers["webhook-id"] == replayed.id


async def test_call_ended_is_written_with_the_cdr_and_only_once(engine: AsyncEngine) -> None:
    clock = FakeClock()
    async with receiving(Receiver()) as receiver, delivering(engine, clock=clock) as harness:
        subscription = await harness.subscribe(receiver.url, ("call.ended",))
        cdrs = CdrStore(engine, clock, outbox=harness.service.cdr_outbox)
        record = sample_call()
        await cdrs.insert_batch([record])
        await cdrs.insert_batch([record])  # replayed from the spool after a crash
        await reach(harness, subscription.id, ["delivered"])
    assert len(receiver.received) == 1
    payload = json.loads(receiver.received[0].body)
    assert payload["type"] == "call.ended"
    assert payload["data"]["cdr"]["linkedid"] == record.linkedid
    assert payload["data"]["cdr"]["disposition"] == record.disposition.value
    assert len(payload["data"]["cdr"]["legs"]) == len(record.legs)


async def test_pending_deliveries_survive_a_restart(engine: AsyncEngine) -> None:
    """Rows in the outbox when the worker stops are sent by the next one (same ids)."""
    clock = FakeClock()
    release = asyncio.Event()
    async with receiving(Receiver(hold=release)) as receiver:
        async with delivering(engine, clock=clock, per_subscription=1) as first:
            subscription = await first.subscribe(receiver.url)
            for n in range(3):
                first.service.emit(event(n, call=f"c{n}"))
            await until(lambda: _true(receiver.attempts == 1))
        # Stopped with one attempt cut off and two never tried.
        assert await statuses(first, subscription.id) == ["pending"] * 3
        release.set()
        async with delivering(engine, clock=clock) as second:
            await second.service.refresh()
            await reach(second, subscription.id, ["delivered"] * 3)
    assert sorted(numbers(receiver)) == [0, 1, 2]


async def test_a_subscription_deleted_elsewhere_does_not_stop_the_others(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock()
    async with (
        receiving(Receiver()) as gone_receiver,
        receiving(Receiver()) as kept_receiver,
        delivering(engine, clock=clock) as harness,
    ):
        gone = await harness.subscribe(gone_receiver.url)
        kept = await harness.subscribe(kept_receiver.url)
        # Deleted behind the service's back (another ccd process, say): its rows would
        # break the outbox's foreign key.
        await harness.store.delete(gone.id)
        harness.service.emit(event(1))
        await reach(harness, kept.id, ["delivered"])
        cdrs = CdrStore(engine, clock, outbox=harness.service.cdr_outbox)
        await harness.store.delete(kept.id)
        await harness.service.refresh()
        kept_again = await harness.subscribe(kept_receiver.url, ("call.ended",))
        await harness.store.delete(kept_again.id)  # the service still thinks it exists
        written = await cdrs.insert_batch([sample_call()])
        assert written.calls_inserted == 1  # the CDR goes in all the same
        harness.service.emit(event(2))
        await until(lambda: _true(harness.service.idle))
    assert gone_receiver.received == []
    assert numbers(kept_receiver) == [1]


async def test_delivered_rows_are_forgotten_after_a_week_dead_ones_kept(
    engine: AsyncEngine,
) -> None:
    clock = FakeClock()
    async with (
        receiving(Receiver()) as receiver,
        receiving(Receiver(status=lambda n: 500)) as broken,
        delivering(engine, clock=clock, retry=RetryPolicy(5, 5, give_up_after_s=0.001)) as harness,
    ):
        ok = await harness.subscribe(receiver.url)
        dead = await harness.subscribe(broken.url)
        harness.service.emit(event(1))
        await reach(harness, ok.id, ["delivered"])
        await reach(harness, dead.id, ["dead"])
        await until(lambda: _true(harness.service.idle))
        await clock.step(6 * 86_400)  # the hourly sweep: nothing old enough yet
        await until(lambda: _true(harness.service.idle))
        assert await statuses(harness, ok.id) == ["delivered"]
        await clock.step(86_400 + 3600)
        await reach(harness, ok.id, [])
        assert await statuses(harness, dead.id) == ["dead"]
