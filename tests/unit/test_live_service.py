"""LiveCalls: the live model on the bus, its listeners, and its log lines."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from structlog.testing import capture_logs

from ccd.ami.translate import translate
from ccd.bus import Bus
from ccd.domain.calls import CallChange, CallEnded, CallStarted, CallUpdated
from ccd.domain.channels import ChannelSnapshot, ChannelState
from ccd.domain.events import (
    AmiDisconnected,
    ChannelCreated,
    ChannelHungUp,
    ChannelUpdated,
    ResyncFinished,
    ResyncStarted,
)
from ccd.live.model import LiveModel
from ccd.live.ports import CallDirectory
from ccd.live.service import LiveCalls
from tests.unit.amitraffic import Traffic, local_originate_call

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def channel(
    uniqueid: str, state: ChannelState = ChannelState.RING, caller: str = "100"
) -> ChannelSnapshot:
    return ChannelSnapshot(
        uniqueid=uniqueid,
        linkedid="L1",
        name=f"PJSIP/{uniqueid}-00000001",
        state=state,
        caller_num=caller,
        caller_name="Alice" if caller == "100" else "",
        exten="200",
    )


def short_call() -> list[object]:
    alice = channel("L1")
    bob = channel("L2", ChannelState.DOWN, caller="200")
    return [
        ChannelCreated(at(0), alice),
        ChannelCreated(at(1), bob),
        ChannelUpdated(at(4), channel("L2", ChannelState.UP, caller="200")),
        ChannelUpdated(at(4), channel("L1", ChannelState.UP)),
        ChannelHungUp(at(34), channel("L2", ChannelState.UP, caller="200"), 16, ""),
        ChannelHungUp(at(34.5), channel("L1", ChannelState.UP), 16, ""),
    ]


@pytest.fixture(autouse=True)
def _clean_context() -> None:
    structlog.contextvars.clear_contextvars()


def test_listeners_get_every_change_in_order() -> None:
    live = LiveCalls(LiveModel())
    seen: list[CallChange] = []
    live.add_listener(seen.append)
    for event in short_call():
        live.handle(event)
    assert [type(c) for c in seen] == [
        CallStarted,
        CallUpdated,
        CallUpdated,
        CallUpdated,
        CallUpdated,
        CallEnded,
    ]
    assert live.calls() == []


def test_it_is_the_call_directory_the_api_reads() -> None:
    live = LiveCalls()
    directory: CallDirectory = live
    live.handle(ChannelCreated(at(0), channel("L1")))
    [call] = directory.calls()
    assert call.caller_num == "100"
    assert directory.call("L1") == call
    assert directory.call("nope") is None
    assert live.channel_count == 1


def test_one_started_line_and_one_canonical_ended_line_per_call() -> None:
    live = LiveCalls()
    with capture_logs() as logs:
        for event in short_call():
            live.handle(event)
    lines = [line for line in logs if line["event"] in ("call started", "call ended")]
    started, ended = lines
    assert started["event"] == "call started"
    assert started["log_level"] == "info"
    assert (started["linkedid"], started["caller"]) == ("L1", "100")
    assert ended["event"] == "call ended"
    assert ended["log_level"] == "info"
    assert ended["linkedid"] == "L1"
    assert (ended["caller"], ended["callee"]) == ("100", "200")
    assert ended["answered"] is True
    assert ended["duration_s"] == 34.5
    assert ended["talk_s"] == 30.5


def test_listeners_run_with_the_linkedid_bound() -> None:
    live = LiveCalls()
    bound: list[object] = []
    live.add_listener(lambda change: bound.append(structlog.contextvars.get_contextvars()))
    live.handle(ChannelCreated(at(0), channel("L1")))
    assert bound == [{"linkedid": "L1"}]
    assert structlog.contextvars.get_contextvars() == {}


def test_a_failing_listener_does_not_starve_the_next_one() -> None:
    live = LiveCalls()
    seen: list[CallChange] = []

    def broken(change: CallChange) -> None:
        raise RuntimeError("listener bug")

    live.add_listener(broken)
    live.add_listener(seen.append)
    with capture_logs() as logs:
        live.handle(ChannelCreated(at(0), channel("L1")))
    assert len(seen) == 1
    assert live.listener_errors == 1
    failure = next(line for line in logs if line["event"] == "call listener failed")
    assert failure["log_level"] == "error"
    assert failure["change"] == "CallStarted"


def test_things_that_are_not_domain_events_are_ignored() -> None:
    live = LiveCalls()
    seen: list[CallChange] = []
    live.add_listener(seen.append)
    live.handle("not an event")
    live.handle({"Event": "Newchannel"})
    assert seen == []
    assert live.calls() == []


def test_disconnect_marks_stale_until_resync_finishes() -> None:
    live = LiveCalls()
    live.handle(ChannelCreated(at(0), channel("L1")))
    with capture_logs() as logs:
        live.handle(AmiDisconnected(at(1), "connection reset"))
    assert live.stale
    assert any(line["event"] == "live calls marked stale" for line in logs)
    live.handle(ResyncStarted(at(2)))
    with capture_logs() as logs:
        live.handle(ResyncFinished(at(3), 0))
    assert not live.stale
    [resynced] = [line for line in logs if line["event"] == "live calls resynced"]
    assert resynced["calls_removed"] == 1
    assert live.calls() == []


async def test_through_the_real_bus_in_order() -> None:
    bus = Bus()
    live = LiveCalls()
    seen: list[CallChange] = []
    live.add_listener(seen.append)
    bus.subscribe(live.handle)
    task = asyncio.create_task(bus.run())
    try:
        scripted = local_originate_call(Traffic())
        for frame in scripted.frames:
            event = translate(frame, T0)
            if event is not None:
                bus.publish(event)
        await asyncio.wait_for(bus.drain(), 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert isinstance(seen[0], CallStarted)
    assert isinstance(seen[-1], CallEnded)
    assert seen[-1].call.caller_num == "5551000"
    assert seen[-1].call.callee_num == "agent"
    assert bus.handler_errors == 0
