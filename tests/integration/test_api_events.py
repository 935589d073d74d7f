"""The live event stream: snapshot first, changes in order, slow clients cut off."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import aiohttp
import pytest
from structlog.testing import capture_logs

from ccd.api.hub import EndReason, EventHub, SubscriptionEnded
from ccd.bus import Bus
from ccd.domain.calls import Call, CallEnded, CallStarted, CallState, CallUpdated
from tests.integration.apifakes import (
    T0,
    FakeAcdLive,
    make_call,
    running_api,
    wait_until,
    with_state,
)


async def test_snapshot_first_then_changes_in_order() -> None:
    existing = make_call("1700000000.1")
    async with running_api(calls=[existing]) as api:
        ws = await api.client.ws_connect("/api/v1/events", headers=api.auth("supervisor"))
        snapshot = await ws.receive_json()
        assert snapshot["type"] == "snapshot"
        assert [c["id"] for c in snapshot["calls"]] == ["1700000000.1"]

        new = make_call("1700000100.5", state=CallState.RINGING, answered_at=None)
        answered = with_state(new, CallState.BRIDGED)
        api.hub.publish(CallStarted(at=T0 + timedelta(seconds=1), call=new))
        api.hub.publish(CallUpdated(at=T0 + timedelta(seconds=5), call=answered))
        api.hub.publish(CallEnded(at=T0 + timedelta(seconds=65), call=answered))

        started, updated, ended = [await ws.receive_json() for _ in range(3)]
        assert [started["type"], updated["type"], ended["type"]] == [
            "call.started",
            "call.updated",
            "call.ended",
        ]
        assert started["at"] == "2026-11-25T09:00:01.000Z"
        assert started["call"]["id"] == "1700000100.5"
        assert updated["call"]["state"] == "bridged"
        assert ended["call"]["duration_s"] == 65.0  # measured at the event, not at send time
        await ws.close()


async def test_snapshot_carries_the_acd_and_acd_messages_follow() -> None:
    acd = FakeAcdLive(queues=["sales"])
    await acd.login("1001", ["sales"])
    async with running_api(acd_live=acd) as api:
        ws = await api.client.ws_connect("/api/v1/events", headers=api.auth("supervisor"))
        snapshot = await ws.receive_json()
        assert snapshot["acd"]["queues"]["sales"]["agents_by_id"] == {"1001": "available"}
        assert snapshot["acd"]["agents"]["1001"]["status"] == "available"
        api.hub.publish_message({"type": "agent.state", "agent_id": "1001", "status": "paused"})
        message = await ws.receive_json()
        assert (message["type"], message["status"]) == ("agent.state", "paused")
        await ws.close()


async def test_snapshot_without_an_acd_has_no_acd_part() -> None:
    async with running_api() as api:
        ws = await api.client.ws_connect("/api/v1/events", headers=api.auth("supervisor"))
        snapshot = await ws.receive_json()
        assert "acd" not in snapshot
        await ws.close()


async def test_changes_flow_from_the_bus_to_every_client() -> None:
    async with running_api() as api:
        bus = Bus()
        bus.subscribe(api.hub.publish)
        runner = asyncio.create_task(bus.run())
        try:
            clients = [
                await api.client.ws_connect("/api/v1/events", headers=api.auth(role))
                for role in ("admin", "integrator")
            ]
            for ws in clients:
                assert (await ws.receive_json()) == {
                    "type": "snapshot",
                    "at": "2026-11-25T09:00:30.000Z",
                    "calls": [],
                }
            calls = [make_call(f"1700000000.{n}") for n in range(20)]
            for call in calls:
                bus.publish(CallStarted(at=T0, call=call))
            await bus.drain()
            for ws in clients:
                received = [(await ws.receive_json())["call"]["id"] for _ in calls]
                assert received == [call.linkedid for call in calls]
                await ws.close()
        finally:
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await runner
        assert bus.handler_errors == 0


async def test_disconnected_client_is_unsubscribed() -> None:
    async with running_api() as api:
        ws = await api.client.ws_connect("/api/v1/events", headers=api.auth("admin"))
        await ws.receive_json()
        assert api.hub.subscriber_count == 1
        await ws.close()
        # The server notices the close; publishing afterwards must not fail or queue.
        await wait_until(lambda: api.hub.subscriber_count == 0, what="server saw the close")
        api.hub.publish(CallStarted(at=T0, call=make_call()))
        assert api.hub.disconnected_slow == 0


async def test_slow_consumer_is_cut_off_without_blocking_others() -> None:
    # Big events fill the socket buffers quickly; the slow client never reads.
    big = make_call("1700000000.9", caller_name="x" * 16_000)
    async with running_api(queue_size=4) as api:
        fast = await api.client.ws_connect("/api/v1/events", headers=api.auth("admin"))
        slow = await api.client.ws_connect("/api/v1/events", headers=api.auth("integrator"))
        await fast.receive_json()
        with capture_logs() as logs:
            sent = 0
            # Bounded by a count, not a clock: socket buffers are a few MB at most.
            while api.hub.disconnected_slow == 0 and sent < 5_000:
                api.hub.publish(CallUpdated(at=T0, call=big))
                sent += 1
                message = await fast.receive_json()  # the fast client keeps up throughout
                assert message["type"] == "call.updated"
        assert api.hub.disconnected_slow == 1, f"slow client never cut off after {sent} events"
        assert api.hub.subscriber_count == 1
        [warning] = [
            e for e in logs if e["event"] == "websocket subscriber too slow, disconnecting"
        ]
        assert warning["client"] == "t-int"

        # The fast client still gets live changes after the slow one was dropped.
        api.hub.publish(CallEnded(at=T0, call=make_call("1700000000.10")))
        assert (await fast.receive_json())["type"] == "call.ended"

        # The slow client's stream ends: its backlog, then a close (1008) or an abort.
        last = await slow.receive()
        while last.type is aiohttp.WSMsgType.TEXT:
            last = await slow.receive()
        assert last.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        )
        if last.type is aiohttp.WSMsgType.CLOSE:
            assert last.data == aiohttp.WSCloseCode.POLICY_VIOLATION
        await fast.close()
        await slow.close()


async def test_slow_consumer_that_never_reads_is_aborted() -> None:
    big = make_call("1700000000.9", caller_name="x" * 16_000)
    async with running_api(queue_size=4) as api:
        slow = await api.client.ws_connect("/api/v1/events", headers=api.auth("integrator"))
        with capture_logs() as logs:
            sent = 0
            while api.hub.disconnected_slow == 0 and sent < 5_000:
                api.hub.publish(CallUpdated(at=T0, call=big))
                sent += 1
                await asyncio.sleep(0)  # let the server try to send
            assert api.hub.disconnected_slow == 1
            # Its close frame cannot get through a full buffer: the server gives up after
            # the grace period and aborts, and the handler finishes.
            await wait_until(
                lambda: any(e["event"] == "event stream closed" for e in logs),
                what="the slow client's handler finished",
            )
        [closed] = [e for e in logs if e["event"] == "event stream closed"]
        assert closed["ended_by"] == "too slow"
        last = await slow.receive()
        while last.type is aiohttp.WSMsgType.TEXT:
            last = await slow.receive()
        assert last.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        await slow.close()


class ExplodingDirectory:
    def calls(self) -> Sequence[Call]:
        raise RuntimeError("boom")

    def call(self, linkedid: str) -> Call | None:
        raise RuntimeError("boom")


async def test_failure_after_upgrade_closes_with_1011() -> None:
    async with running_api(calls_directory=ExplodingDirectory()) as api:
        with capture_logs() as logs:
            ws = await api.client.ws_connect("/api/v1/events", headers=api.auth("admin"))
            message = await ws.receive()
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert message.data == aiohttp.WSCloseCode.INTERNAL_ERROR
        assert any(e["event"] == "event stream failed" for e in logs)
        await ws.close()
        await wait_until(lambda: api.hub.subscriber_count == 0, what="unsubscribed")


async def test_shutdown_closes_event_streams_with_going_away() -> None:
    async with running_api() as api:
        ws = await api.client.ws_connect("/api/v1/events", headers=api.auth("admin"))
        await ws.receive_json()
        stopping = asyncio.create_task(api.client.server.close())
        message = await ws.receive()
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert message.data == aiohttp.WSCloseCode.GOING_AWAY
        await ws.close()
        await stopping
        assert api.hub.subscriber_count == 0


# Hub behaviour without sockets.


async def test_hub_overflow_drops_only_the_lagging_subscriber() -> None:
    hub = EventHub(queue_size=3)
    keeping_up = hub.subscribe(client="fast")
    lagging = hub.subscribe(client="slow")
    received: list[str] = []
    for n in range(10):
        hub.publish(CallStarted(at=T0, call=make_call(f"1.{n}")))
        received.append(await keeping_up.get())
        assert lagging.pending <= 3  # memory stays bounded
    assert len(received) == 10
    assert [f'"id":"1.{n}"' in text for n, text in enumerate(received)] == [True] * 10
    assert lagging.overflowed
    assert not keeping_up.overflowed
    assert lagging.pending == 0  # its backlog is released at once
    with pytest.raises(SubscriptionEnded) as ended:
        await lagging.get()
    assert ended.value.reason is EndReason.TOO_SLOW
    assert hub.subscriber_count == 1
    assert hub.disconnected_slow == 1


async def test_hub_wakes_the_overflow_watcher() -> None:
    hub = EventHub(queue_size=1)
    subscription = hub.subscribe()
    watcher = asyncio.create_task(subscription.wait_ended())
    hub.publish(CallStarted(at=T0, call=make_call()))
    await asyncio.sleep(0)
    assert not watcher.done()
    hub.publish(CallStarted(at=T0, call=make_call()))
    assert await watcher is EndReason.TOO_SLOW  # the handler would now close the socket


async def test_get_waits_for_the_next_change() -> None:
    hub = EventHub()
    with hub.subscribe() as subscription:
        waiting = asyncio.create_task(subscription.get())
        await asyncio.sleep(0)
        assert not waiting.done()
        hub.publish(CallEnded(at=T0, call=make_call("9.9")))
        assert '"type":"call.ended"' in await waiting
    assert hub.subscriber_count == 0


def test_publish_without_subscribers_is_a_no_op() -> None:
    hub = EventHub()
    hub.publish(CallStarted(at=T0, call=make_call()))
    assert hub.published == 1
    assert hub.disconnected_slow == 0


async def test_close_all_ends_every_subscription() -> None:
    hub = EventHub()
    first, second = hub.subscribe(), hub.subscribe()
    hub.close_all()
    for subscription in (first, second):
        assert await subscription.wait_ended() is EndReason.SHUTDOWN
        with pytest.raises(SubscriptionEnded):
            await subscription.get()
    assert hub.subscriber_count == 0
    assert hub.disconnected_slow == 0
