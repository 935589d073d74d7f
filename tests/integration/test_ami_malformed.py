"""Malformed AMI input over a real socket: counted, skipped, connection kept, memory bounded."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import pytest

from ccd.ami.framing import MIB, Frame
from ccd.ami.gateway import AmiGateway
from ccd.backoff import Backoff, BackoffPolicy
from ccd.clock import SystemClock
from tests.fakeami import FakeAmi, frame

SECRET = "s3cret"


async def eventually(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll a condition on gateway counters (they have no events to wait on)."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(secret=SECRET)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def connected(fake: FakeAmi) -> AsyncIterator[tuple[AmiGateway, list[Frame]]]:
    events: list[Frame] = []
    gateway = AmiGateway(
        host=fake.host,
        port=fake.port,
        username="ccd",
        secret=SECRET,
        on_event=events.append,
        on_connection=lambda _event: None,
        on_resync_row=lambda _row: None,
        clock=SystemClock(),
        max_headers=128,
        backoff=Backoff(BackoffPolicy(min_s=0.01, max_s=0.05), random.Random(1)),
    )
    await gateway.start()
    await gateway.wait_resynced(5)
    yield gateway, events
    await gateway.stop()


def user_event(seq: int) -> bytes:
    return frame({"Event": "UserEvent", "UserEvent": "CcdProbe", "Seq": str(seq)})


def seqs(events: list[Frame]) -> list[str]:
    return [event["Seq"] for event in events if "Seq" in event]


async def test_malformed_frames_are_counted_and_skipped_and_the_connection_stays(
    fake: FakeAmi, connected: tuple[AmiGateway, list[Frame]]
) -> None:
    gateway, events = connected
    too_many = b"Event: Wide\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(200)) + b"\r\n"
    await fake.send_raw(
        user_event(1)
        + b"Event: Hangup\r\nEvent: Newstate\r\nUniqueid: 1.1\r\n\r\n"
        + user_event(2)
        + b"Event: Newstate\r\nthis line has no colon\r\n\r\n"
        + user_event(3)
        + b"Event: Newstate\r\nCallerIDName: \xc3\x28\xff\r\n\r\n"
        + user_event(4)
        + too_many
        + user_event(5)
    )
    await eventually(lambda: "5" in seqs(events))

    assert seqs(events) == ["1", "2", "3", "4", "5"]
    assert gateway.malformed_by_reason == {
        "duplicate_header": 1,
        "no_colon": 1,
        "bad_utf8": 1,
        "too_many_headers": 1,
    }
    assert gateway.malformed_frames == 4
    assert gateway.reconnects == 0
    assert gateway.connect_attempts == 1
    assert gateway.resynced
    pong = await gateway.send_action({"Action": "Ping"}, as_list=False)
    assert pong["Ping"] == "Pong"


async def test_eight_mib_unterminated_frame_is_dropped_and_the_stream_resumes(
    fake: FakeAmi, connected: tuple[AmiGateway, list[Frame]]
) -> None:
    gateway, events = connected
    await fake.send_raw(user_event(1) + b"Event: Flood\r\n")
    filler = b"X-Filler: " + b"z" * (256 * 1024) + b"\r\n"
    for _ in range(8 * MIB // len(filler) + 1):
        await fake.send_raw(filler)
    await fake.send_raw(b"\r\n" + user_event(2))
    await eventually(lambda: "2" in seqs(events))
    pong = await gateway.send_action({"Action": "Ping"}, as_list=False)
    assert pong["Ping"] == "Pong"

    assert seqs(events) == ["1", "2"]
    assert gateway.malformed_by_reason == {"oversize": 1}
    assert gateway.reconnects == 0
    assert gateway.connected


async def test_malformed_counts_survive_a_reconnect(
    fake: FakeAmi, connected: tuple[AmiGateway, list[Frame]]
) -> None:
    gateway, events = connected
    await fake.send_raw(b"Event: A\r\nEvent: B\r\n\r\n" + user_event(1))
    await eventually(lambda: "1" in seqs(events))
    fake.drop_connections()
    await eventually(lambda: gateway.reconnects == 1 and gateway.resynced)
    await fake.send_raw(b"no colon at all\r\n\r\n" + user_event(2))
    await eventually(lambda: "2" in seqs(events))
    assert gateway.malformed_by_reason == {"duplicate_header": 1, "no_colon": 1}
