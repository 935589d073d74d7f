"""A small scriptable AMI server over TCP (127.0.0.1, port 0).

Only for what real Asterisk will not do on demand: malformed frames, a peer that stops
answering (half-open), refused logins, dropping mid-action. It speaks enough AMI for the
gateway: greeting, Login, Logoff, Ping, CoreSettings, CoreShowChannels, Originate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

GREETING = b"Asterisk Call Manager/11.0.0\r\n"


def frame(fields: Mapping[str, str]) -> bytes:
    return ("".join(f"{key}: {value}\r\n" for key, value in fields.items()) + "\r\n").encode()


class FakeAmiConnection:
    def __init__(self, server: FakeAmi, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.server = server
        self.reader = reader
        self.writer = writer
        self.frozen = False
        self.logged_in = False

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def serve(self) -> None:
        self.write(self.server.greeting)
        while True:
            try:
                raw = await self.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                return
            if self.frozen:
                continue  # half-open: swallow everything, answer nothing
            action = parse(raw)
            self.server.actions.append(action)
            self.server.action_received.set()
            if not await self.answer(action):
                return

    async def answer(self, action: dict[str, str]) -> bool:
        """Answer one action; False ends the connection."""
        name = action.get("Action", "").lower()
        action_id = action.get("ActionID", "")
        reply = {"ActionID": action_id}
        server = self.server
        if name == "login":
            if action.get("Secret") != server.secret:
                self.write(
                    frame({"Response": "Error", **reply, "Message": "Authentication failed"})
                )
                await self.writer.drain()
                return False
            self.logged_in = True
            self.write(
                frame({"Response": "Success", **reply, "Message": "Authentication accepted"})
            )
            if server.send_fully_booted:
                self.write(
                    frame(
                        {
                            "Event": "FullyBooted",
                            "Privilege": "system,all",
                            "Status": "Fully Booted",
                        }
                    )
                )
            return True
        if name == "logoff":
            self.write(
                frame({"Response": "Goodbye", **reply, "Message": "Thanks for all the fish."})
            )
            await self.writer.drain()
            return False
        if name in server.silent_actions:
            return True
        if name == "ping":
            if server.answer_pings:
                self.write(
                    frame(
                        {
                            "Response": "Success",
                            **reply,
                            "Ping": "Pong",
                            "Timestamp": "1700000000.000000",
                        }
                    )
                )
            return True
        if name == "coresettings":
            if server.asterisk_version is None:
                self.write(frame({"Response": "Error", **reply, "Message": "Permission denied"}))
            else:
                self.write(
                    frame(
                        {
                            "Response": "Success",
                            **reply,
                            "AMIversion": "11.0.0",
                            "AsteriskVersion": server.asterisk_version,
                            "SystemName": server.system_name,
                        }
                    )
                )
            return True
        if name == "coreshowchannels":
            self.write(
                frame(
                    {
                        "Response": "Success",
                        **reply,
                        "EventList": "start",
                        "Message": "Channels will follow",
                    }
                )
            )
            for index, channel in enumerate(server.channels):
                self.write(frame({"Event": "CoreShowChannel", **reply, **channel}))
                if index == 0:
                    for event in server.events_during_resync:
                        self.write(frame(event))
            self.write(
                frame(
                    {
                        "Event": "CoreShowChannelsComplete",
                        **reply,
                        "EventList": "Complete",
                        "ListItems": str(len(server.channels)),
                    }
                )
            )
            return True
        if name == "originate":
            self.write(
                frame({"Response": "Success", **reply, "Message": "Originate successfully queued"})
            )
            return True
        self.write(frame({"Response": "Error", **reply, "Message": "Invalid/unknown command"}))
        return True

    def close(self) -> None:
        self.writer.close()


def parse(raw: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep and key not in fields:
            fields[key] = value
    return fields


class FakeAmi:
    """Scriptable fake. Attributes can be changed at any time by the test."""

    def __init__(self, *, secret: str) -> None:
        self.secret = secret
        self.greeting = GREETING
        self.answer_pings = True
        self.send_fully_booted = True
        self.asterisk_version: str | None = "22.10.0"
        self.system_name = ""  # asterisk.conf systemname (CoreSettings SystemName)
        self.channels: list[dict[str, str]] = []
        # Live events Asterisk interleaves with the resync list (after its first row).
        self.events_during_resync: list[dict[str, str]] = []
        # Actions (lower-case names) that are read and counted but never answered.
        self.silent_actions: set[str] = set()
        self.actions: list[dict[str, str]] = []
        self.action_received = asyncio.Event()
        self.connections: list[FakeAmiConnection] = []
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_listening(self) -> None:
        """Refuse new connections (the port stays known so ``start`` can reopen it)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def close(self) -> None:
        await self.stop_listening()
        self.drop_connections()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = FakeAmiConnection(self, reader, writer)
        self.connections.append(connection)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await connection.serve()
        finally:
            self._handlers.discard(task)
            connection.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    # -- scripting helpers --------------------------------------------------------------

    @property
    def current(self) -> FakeAmiConnection:
        live = [c for c in self.connections if not c.writer.is_closing()]
        if not live:
            raise AssertionError("no live fake AMI connection")
        return live[-1]

    def count(self, action: str) -> int:
        return sum(1 for a in self.actions if a.get("Action", "").lower() == action.lower())

    async def wait_for_action(self, action: str, count: int = 1, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while self.count(action) < count:
                self.action_received.clear()
                await self.action_received.wait()

    async def send_raw(self, data: bytes) -> None:
        connection = self.current
        connection.write(data)
        await connection.writer.drain()

    async def send_event(self, fields: Mapping[str, str]) -> None:
        await self.send_raw(frame(fields))

    def freeze(self) -> None:
        """The current connection goes silent: reads everything, answers nothing."""
        self.current.frozen = True

    def drop_connections(self) -> None:
        for connection in self.connections:
            connection.close()
