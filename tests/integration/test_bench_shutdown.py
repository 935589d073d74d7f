"""bench/ivr_load.py's AMI driver stops in bounded time, whatever its reader is doing.

It used to hang at shutdown: on Python 3.11 ``asyncio.wait_for`` (inside
``RawAmi.read_frame``) swallows a cancellation that arrives just after the read completed,
so the reader went on reading for an hour while ``stop()`` waited for it, and Ctrl-C was
swallowed by the ``suppress(CancelledError)`` around that wait. These tests drive the
exact interleaving over a real socket pair, no Asterisk needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from bench.ivr_load import AmiDriver
from tests.system.rawami import RawAmi

FRAME = b"Event: Newchannel\r\nChannel: Local/7000@ccd-ivr-00000001;1\r\n\r\n"


@pytest.fixture
async def fed_ami() -> AsyncIterator[tuple[RawAmi, asyncio.StreamReader]]:
    """A RawAmi whose incoming bytes the test feeds by hand (so it decides exactly when a
    frame arrives); its writer is a real socket."""
    ours, theirs = socket.socketpair()
    _ignored, writer = await asyncio.open_connection(sock=ours)
    incoming = asyncio.StreamReader()
    try:
        yield RawAmi(incoming, writer), incoming
    finally:
        writer.close()
        theirs.close()


@pytest.mark.parametrize("yields", [0, 1, 2, 3])
async def test_stop_right_after_a_frame_arrived_ends_the_reader(
    fed_ami: tuple[RawAmi, asyncio.StreamReader], yields: int
) -> None:
    ami, incoming = fed_ami
    driver = AmiDriver(ami)
    driver.start()
    await asyncio.sleep(0)  # the reader waits for a frame
    incoming.feed_data(FRAME)
    # stop() lands at each point of the reader's wake-up: one of them is after the read
    # completed and before the reader task resumed.
    for _ in range(yields):
        await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    # The old stop() hung here, then swallowed this timeout's own cancellation.
    async with asyncio.timeout(10):
        await driver.stop()
    took_s = loop.time() - started
    assert took_s < 1, f"stop() took {took_s:.1f} s: the reader ignored its cancellation"
    assert not driver.stuck
    assert driver._reader is not None
    assert driver._reader.done()


async def test_a_cancelled_read_frame_ends_even_when_its_frame_just_arrived(
    fed_ami: tuple[RawAmi, asyncio.StreamReader],
) -> None:
    ami, incoming = fed_ami

    async def read_forever() -> None:
        while True:
            await ami.read_frame(3600)

    reader = asyncio.create_task(read_forever())
    await asyncio.sleep(0)
    incoming.feed_data(FRAME)
    await asyncio.sleep(0)
    reader.cancel()
    done, _pending = await asyncio.wait({reader}, timeout=2)
    assert done == {reader}, "the cancellation was swallowed: the reader reads on"
    assert reader.cancelled()


async def test_stop_is_bounded_and_lets_the_caller_be_cancelled(
    fed_ami: tuple[RawAmi, asyncio.StreamReader],
) -> None:
    ami, _incoming = fed_ami
    driver = AmiDriver(ami)
    release = asyncio.Event()

    async def stubborn_reader() -> None:
        # A reader that ignores cancellation until released: the worst case for stop().
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    driver._reader = asyncio.create_task(stubborn_reader())
    await asyncio.sleep(0)
    try:
        async with asyncio.timeout(2):
            await driver.stop(timeout_s=0.2)
        assert driver.stuck

        # Ctrl-C cancels the task that is stopping the driver: that must get through.
        stopping = asyncio.create_task(driver.stop(timeout_s=3600))
        await asyncio.sleep(0.05)
        stopping.cancel()
        done, _pending = await asyncio.wait({stopping}, timeout=2)
        assert done == {stopping}
        assert stopping.cancelled()
    finally:
        release.set()
        await driver._reader
