"""The FastAGI server and channel against a fake Asterisk: a TCP *client* on 127.0.0.1
that sends the AGI header block and answers commands, or misbehaves."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import ClassVar

import pytest

from ccd.agi.channel import (
    AgiChannel,
    AgiError,
    AgiHangup,
    AgiPromptFailed,
    AgiUnsafeArgument,
    parse_response,
    quote,
)
from ccd.agi.server import AgiServer

HEADERS = (
    "agi_network: yes\n"
    "agi_network_script: ivr\n"
    "agi_request: agi://127.0.0.1:4573/ivr\n"
    "agi_channel: Local/s@ccd-ivr-0001;2\n"
    "agi_language: en\n"
    "agi_type: Local\n"
    "agi_uniqueid: 1764064000.42\n"
    "agi_callerid: 5551234\n"
    "agi_calleridname: Jane Doe\n"
    "agi_dnid: unknown\n"
    "agi_context: ccd-ivr\n"
    "agi_extension: s\n"
    "agi_priority: 3\n"
    "agi_arg_1: main-menu\n"
    "agi_arg_2: x y\n"
    "\n"
)

Handler = Callable[[AgiChannel], Awaitable[None]]


class FakeAsterisk:
    """One AGI connection as Asterisk makes it."""

    opened: ClassVar[list[FakeAsterisk]] = []

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        FakeAsterisk.opened.append(self)

    @classmethod
    async def connect(cls, port: int, headers: str = HEADERS) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if headers:
            writer.write(headers.encode())
            await writer.drain()
        return cls(reader, writer)

    async def command(self) -> str:
        async with asyncio.timeout(5):
            line = await self.reader.readline()
        assert line.endswith(b"\n"), f"connection closed, got {line!r}"
        return line.decode().rstrip("\n")

    async def reply(self, line: str) -> None:
        self.writer.write(line.encode() + b"\n")
        await self.writer.drain()

    async def closed_by_server(self) -> bool:
        """True once the server closed the connection (EOF, or a reset)."""
        try:
            async with asyncio.timeout(5):
                while await self.reader.read(4096):
                    continue
        except ConnectionError:
            return True
        return True

    def close(self) -> None:
        self.writer.close()


@pytest.fixture(autouse=True)
async def close_fake_peers() -> AsyncIterator[None]:
    yield
    peers, FakeAsterisk.opened[:] = list(FakeAsterisk.opened), []
    for peer in peers:
        peer.writer.close()
        with contextlib.suppress(ConnectionError):
            await peer.writer.wait_closed()


class Recorder:
    """A handler that records what it saw, driven by a script given per test."""

    def __init__(self) -> None:
        self.channels: list[AgiChannel] = []
        self.results: list[object] = []
        self.errors: list[BaseException] = []
        self.done = asyncio.Event()
        self.script: Callable[[AgiChannel], Awaitable[object]] | None = None

    async def __call__(self, channel: AgiChannel) -> None:
        self.channels.append(channel)
        try:
            if self.script is not None:
                self.results.append(await self.script(channel))
        except AgiError as exc:
            self.errors.append(exc)
        finally:
            self.done.set()


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def server(recorder: Recorder) -> AsyncIterator[AgiServer]:
    agi = AgiServer("127.0.0.1", 0, recorder, header_timeout_s=0.5, max_sessions=5)
    await agi.start()
    try:
        yield agi
    finally:
        await agi.stop()


async def wait_until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


# --- header block ---------------------------------------------------------------


async def test_header_block_becomes_the_channel_env(server: AgiServer, recorder: Recorder) -> None:
    peer = await FakeAsterisk.connect(server.port)
    async with asyncio.timeout(5):
        await recorder.done.wait()
    channel = recorder.channels[0]
    assert channel.uniqueid == "1764064000.42"
    assert channel.channel == "Local/s@ccd-ivr-0001;2"
    assert channel.callerid == "5551234"
    assert channel.calleridname == "Jane Doe"
    assert channel.dnid == ""  # Asterisk says "unknown"
    assert channel.network_script == "ivr"
    assert channel.args == ["main-menu", "x y"]
    assert channel.language == "en"
    # The handler returned: the server closes the socket.
    assert await peer.closed_by_server()


async def test_connect_and_close_storm_never_freezes_the_loop(
    server: AgiServer, recorder: Recorder
) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    for index in range(200):
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        if index % 2:
            # Half a header block, then gone.
            writer.write(b"agi_network: yes\nagi_chan")
            await writer.drain()
        writer.close()
        await writer.wait_closed()
    await wait_until(lambda: server.bad_headers == 200)
    await wait_until(lambda: server.active_sessions == 0)
    # The loop kept running other tasks throughout and afterwards.
    before = ticks
    await wait_until(lambda: ticks > before)
    stop.set()
    await ticking
    assert recorder.channels == []
    # And a real session still works.
    recorder.script = lambda channel: channel.get_variable("X")
    peer = await FakeAsterisk.connect(server.port)
    assert await peer.command() == 'GET VARIABLE "X"'
    await peer.reply("200 result=1 (ok)")
    async with asyncio.timeout(5):
        await recorder.done.wait()
    assert recorder.results == ["ok"]


def test_storm_against_a_server_in_its_own_loop_fails_rather_than_hangs() -> None:
    """The same storm, but the server runs in another thread's loop: were that loop frozen
    by a peer that connects and closes, the checks below would time out and fail instead
    of hanging the test run."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def idle(channel: AgiChannel) -> None:
        await asyncio.sleep(0)

    server = AgiServer("127.0.0.1", 0, idle, header_timeout_s=2)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
        for index in range(200):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as peer:
                if index % 2:
                    peer.sendall(b"agi_network: yes\nagi_chan")
            # The server's loop answers between peers, not only at the end.
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(5)
        deadline = time.monotonic() + 10
        while (server.bad_headers < 200 or server.active_sessions) and time.monotonic() < deadline:
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0.01), loop).result(5)
        assert server.bad_headers == 200
        assert server.active_sessions == 0
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\n",
        b"agi_network: yes\n\x00\x01\x02 binary\n\n",
        b"agi_" + b"x" * (20 * 1024) + b": y\n\n",
    ],
    ids=["http", "empty-block", "binary", "oversized-line"],
)
async def test_garbage_header_is_closed_without_running_the_handler(
    server: AgiServer, recorder: Recorder, garbage: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(garbage)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    peer = FakeAsterisk(reader, writer)
    assert await peer.closed_by_server()
    peer.close()
    await wait_until(lambda: server.bad_headers == 1)
    assert recorder.channels == []


async def test_too_many_headers_in_total_is_rejected(server: AgiServer, recorder: Recorder) -> None:
    lines = "".join(f"agi_h{i}: {'v' * 100}\n" for i in range(300)) + "\n"
    peer = await FakeAsterisk.connect(server.port, headers=lines)
    assert await peer.closed_by_server()
    await wait_until(lambda: server.bad_headers == 1)
    assert recorder.channels == []


async def test_slow_header_block_times_out_and_is_closed(
    server: AgiServer, recorder: Recorder
) -> None:
    peer = await FakeAsterisk.connect(server.port, headers="agi_network: yes\n")
    # Never sends the blank line: the 0.5 s header timeout closes it.
    assert await peer.closed_by_server()
    assert server.bad_headers == 1
    assert recorder.channels == []


async def test_sessions_over_the_limit_are_refused(recorder: Recorder) -> None:
    release = asyncio.Event()

    async def hold(channel: AgiChannel) -> None:
        await release.wait()

    agi = AgiServer("127.0.0.1", 0, hold, max_sessions=2)
    await agi.start()
    try:
        held = [await FakeAsterisk.connect(agi.port) for _ in range(2)]
        await wait_until(lambda: agi.active_sessions == 2)
        extra = await FakeAsterisk.connect(agi.port)
        assert await extra.closed_by_server()
        assert agi.refused == 1
        release.set()
        for peer in held:
            assert await peer.closed_by_server()
        await wait_until(lambda: agi.active_sessions == 0)
    finally:
        await agi.stop()


async def test_stop_cancels_running_sessions_and_closes_their_sockets() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def forever(channel: AgiChannel) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    agi = AgiServer("127.0.0.1", 0, forever)
    await agi.start()
    port = agi.port
    peer = await FakeAsterisk.connect(port)
    async with asyncio.timeout(5):
        await started.wait()
    await agi.stop()
    assert cancelled.is_set()
    assert await peer.closed_by_server()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_failing_handler_is_logged_and_its_socket_closed() -> None:
    async def broken(channel: AgiChannel) -> None:
        raise RuntimeError("bug")

    agi = AgiServer("127.0.0.1", 0, broken)
    await agi.start()
    try:
        peer = await FakeAsterisk.connect(agi.port)
        assert await peer.closed_by_server()
        await wait_until(lambda: agi.active_sessions == 0)
    finally:
        await agi.stop()


# --- commands -------------------------------------------------------------------


async def run_script(
    server: AgiServer,
    recorder: Recorder,
    script: Callable[[AgiChannel], Awaitable[object]],
    exchange: list[tuple[str, str | None]],
) -> FakeAsterisk:
    """Connect, then for each (expected command, reply) check and answer; None = hang up."""
    recorder.script = script
    peer = await FakeAsterisk.connect(server.port)
    for expected, reply in exchange:
        assert await peer.command() == expected
        if reply is None:
            peer.close()
            break
        await peer.reply(reply)
    async with asyncio.timeout(5):
        await recorder.done.wait()
    return peer


async def test_get_data_returns_digits_and_handles_timeout(
    server: AgiServer, recorder: Recorder
) -> None:
    async def script(channel: AgiChannel) -> list[str]:
        return [
            await channel.get_data("ccd/menu", 3000, 4),
            await channel.get_data("ccd/menu", 3000, 4),
            await channel.get_data("ccd/menu", 3000, 4),
        ]

    await run_script(
        server,
        recorder,
        script,
        [
            ('GET DATA "ccd/menu" "3000" "4"', "200 result=12"),
            ('GET DATA "ccd/menu" "3000" "4"', "200 result=7 (timeout)"),
            ('GET DATA "ccd/menu" "3000" "4"', "200 result= (timeout)"),
        ],
    )
    assert recorder.results == [["12", "7", ""]]


async def test_stream_file_digit_silence_and_missing_file(
    server: AgiServer, recorder: Recorder
) -> None:
    async def script(channel: AgiChannel) -> list[str]:
        played = [
            await channel.stream_file("hello", "123"),
            await channel.stream_file("hello-world"),
        ]
        with pytest.raises(AgiPromptFailed):
            await channel.stream_file("no-such-file")
        return played

    await run_script(
        server,
        recorder,
        script,
        [
            ('STREAM FILE "hello" "123"', "200 result=50 endpos=8000"),
            ('STREAM FILE "hello-world" ""', "200 result=0 endpos=16000"),
            ('STREAM FILE "no-such-file" ""', "200 result=-1 endpos=0"),
        ],
    )
    assert recorder.results == [["2", ""]]
    assert recorder.errors == []


async def test_variables_exec_verbose_answer_and_hangup(
    server: AgiServer, recorder: Recorder
) -> None:
    async def script(channel: AgiChannel) -> list[object]:
        await channel.answer()
        await channel.set_variable("CHANNEL(language)", "fr")
        found = await channel.get_variable("CHANNEL(linkedid)")
        missing = await channel.get_variable("NOPE")
        paren = await channel.get_variable("P")
        status = await channel.exec("Playback", 'a "quoted" \\ arg,b')
        await channel.verbose("hello there")
        await channel.hangup()
        return [found, missing, paren, status, channel.hung_up]

    await run_script(
        server,
        recorder,
        script,
        [
            ("ANSWER", "200 result=0"),
            ('SET VARIABLE "CHANNEL(language)" "fr"', "200 result=1"),
            ('GET VARIABLE "CHANNEL(linkedid)"', "200 result=1 (1764064000.41)"),
            ('GET VARIABLE "NOPE"', "200 result=0"),
            ('GET VARIABLE "P"', "200 result=1 (a (b) c)"),
            ('EXEC "Playback" "a \\"quoted\\" \\\\ arg,b"', "200 result=0"),
            ('VERBOSE "hello there" "1"', "200 result=1"),
            ("HANGUP", "200 result=1"),
        ],
    )
    assert recorder.errors == []
    assert recorder.results == [["1764064000.41", None, "a (b) c", "0", True]]


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("HANGUP", AgiHangup),
        ("511 Command Not Permitted on a dead channel or intercept routine", AgiHangup),
        ("200 result=-1", AgiHangup),
        (None, AgiHangup),
        ("510 Invalid or unknown command", AgiError),
        ("what is this", AgiError),
    ],
    ids=["hangup-line", "511", "result-minus-1", "connection-lost", "510", "garbage"],
)
async def test_hangups_and_errors_raise(
    server: AgiServer, recorder: Recorder, reply: str | None, kind: type[AgiError]
) -> None:
    await run_script(
        server,
        recorder,
        lambda channel: channel.get_data("menu", 1000, 1),
        [('GET DATA "menu" "1000" "1"', reply)],
    )
    assert recorder.results == []
    assert [type(error) for error in recorder.errors] == [kind]


async def test_after_a_hangup_no_more_commands_are_written(
    server: AgiServer, recorder: Recorder
) -> None:
    async def script(channel: AgiChannel) -> None:
        with pytest.raises(AgiHangup):
            await channel.stream_file("a")
        await channel.set_variable("X", "1")

    peer = await run_script(server, recorder, script, [('STREAM FILE "a" ""', "HANGUP")])
    assert [type(error) for error in recorder.errors] == [AgiHangup]
    async with asyncio.timeout(5):
        assert await peer.reader.read() == b""


async def test_usage_reply_spanning_lines_is_one_error(
    server: AgiServer, recorder: Recorder
) -> None:
    async def script(channel: AgiChannel) -> str:
        with pytest.raises(AgiError):
            await channel.verbose("x")
        return await channel.get_data("menu", 1000, 1)

    recorder.script = script
    peer = await FakeAsterisk.connect(server.port)
    assert await peer.command() == 'VERBOSE "x" "1"'
    peer.writer.write(b"520-Invalid command syntax.  Proper usage follows:\nUsage: ...\n")
    peer.writer.write(b"520 End of proper usage.\n")
    assert await peer.command() == 'GET DATA "menu" "1000" "1"'
    await peer.reply("200 result=5")
    async with asyncio.timeout(5):
        await recorder.done.wait()
    assert recorder.results == ["5"]


async def test_a_silent_asterisk_times_the_command_out() -> None:
    outcome: list[BaseException] = []

    async def script(channel: AgiChannel) -> None:
        try:
            await channel.set_variable("X", "1")
        except AgiHangup as exc:
            outcome.append(exc)

    agi = AgiServer("127.0.0.1", 0, script, command_timeout_s=0.2)
    await agi.start()
    try:
        peer = await FakeAsterisk.connect(agi.port)
        assert await peer.command() == 'SET VARIABLE "X" "1"'
        assert await peer.closed_by_server()
        assert len(outcome) == 1
    finally:
        await agi.stop()


@pytest.mark.parametrize("bad", ["a\nHANGUP", "a\rb", "a\0b"])
async def test_cr_lf_nul_in_arguments_are_refused_before_writing(
    server: AgiServer, recorder: Recorder, bad: str
) -> None:
    async def script(channel: AgiChannel) -> str:
        with pytest.raises(AgiUnsafeArgument):
            await channel.set_variable("X", bad)
        return await channel.get_data("ok", 1000, 1)

    # The first thing Asterisk sees is the next, safe command.
    await run_script(server, recorder, script, [('GET DATA "ok" "1000" "1"', "200 result=1")])
    assert recorder.results == ["1"]


def test_response_parsing_and_quoting() -> None:
    response = parse_response("200 result=0 endpos=1234")
    assert (response.code, response.result, response.data, response.extra) == (
        200,
        "0",
        None,
        "endpos=1234",
    )
    assert parse_response("200 result=1 (x)").data == "x"
    assert quote("") == '""'
    assert quote('say "hi"') == '"say \\"hi\\""'
