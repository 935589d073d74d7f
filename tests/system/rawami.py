"""A tiny AMI client over a raw asyncio socket, for tests that must see exactly what
Asterisk sends (no panoramisk in between)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from types import TracebackType

Frame = dict[str, str]


class RawAmi:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self.banner = ""
        self.received: list[Frame] = []
        # Channels this client originated, so a test can hang up its own calls.
        self.originated: list[str] = []

    @classmethod
    async def connect(cls, host: str, port: int) -> RawAmi:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        ami = cls(reader, writer)
        ami.banner = (await asyncio.wait_for(reader.readline(), 10)).decode().strip()
        return ami

    async def __aenter__(self) -> RawAmi:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    async def send(self, action: str, **fields: str) -> str:
        """Send an action; returns its ActionID."""
        action_id = fields.pop("ActionID", f"t-{next(self._ids)}")
        lines = [f"Action: {action}", f"ActionID: {action_id}"]
        lines += [f"{key}: {value}" for key, value in fields.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()
        return action_id

    async def read_frame(self, seconds: float = 10) -> Frame:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
        # that arrives just as the read completes, so a reader task told to stop went on
        # reading (bench/ivr_load.py hung at shutdown that way).
        async with asyncio.timeout(seconds):
            raw = await self._reader.readuntil(b"\r\n\r\n")
        frame: Frame = {}
        for line in raw.decode().split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                frame.setdefault(key, value)
        self.received.append(frame)
        return frame

    async def wait_for(self, predicate: Callable[[Frame], bool], seconds: float = 10) -> Frame:
        """Read frames until one matches; fails with what was seen when time runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [f.get("Event") or f.get("Response") for f in self.received[-30:]]
                raise AssertionError(f"no matching AMI frame within {seconds}s; last seen {seen}")
            try:
                frame = await self.read_frame(remaining)
            except TimeoutError:
                continue
            if predicate(frame):
                return frame

    async def response(self, action_id: str, seconds: float = 10) -> Frame:
        return await self.wait_for(
            lambda f: "Response" in f and f.get("ActionID") == action_id, seconds
        )

    async def action(self, action: str, **fields: str) -> Frame:
        return await self.response(await self.send(action, **fields))

    async def read_until_closed(self) -> None:
        """Read frames until Asterisk closes the connection (raises IncompleteReadError)."""
        while True:
            await self.read_frame()

    async def login(self, username: str, secret: str) -> None:
        reply = await self.action("Login", Username=username, Secret=secret)
        assert reply["Response"] == "Success", reply
