"""FastAGI server: Asterisk connects here for each ``AGI(agi://host:port/script,...)``.

Our own connection handling, not panoramisk's ``fast_agi.Application``: a peer that
connects and closes before the header block ends made that one spin on EOF and freeze
the event loop. Here the header read is bounded in time and size, EOF ends the session,
every socket is closed when its session ends, and every session task is cancelled on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable

import structlog

from ccd.agi.channel import DEFAULT_COMMAND_TIMEOUT_S, AgiChannel

log = structlog.get_logger("ccd.agi")

AgiHandler = Callable[[AgiChannel], Awaitable[None]]

_HEADER_RE = re.compile(r"^(agi_[a-z0-9_]+): ?(.*)$")
MAX_HEADERS = 200


class HeaderError(Exception):
    """The peer did not send a well-formed AGI header block."""


class AgiServer:
    """Serves one FastAGI session per connection with ``handler``; at most
    ``max_sessions`` at once (default 5,000, as ``[agi] max_sessions``: every IVR caller
    and every caller waiting in an ACD queue holds one), further connections are refused."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: AgiHandler,
        *,
        header_timeout_s: float = 5.0,
        max_header_bytes: int = 16 * 1024,
        max_sessions: int = 5000,
        command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._handler = handler
        self.header_timeout_s = header_timeout_s
        self.max_header_bytes = max_header_bytes
        self.max_sessions = max_sessions
        self.command_timeout_s = command_timeout_s
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._closing = False
        self.refused = 0
        """Connections closed at once because ``max_sessions`` were running."""
        self.bad_headers = 0
        """Connections closed because their header block was cut short, garbage or too slow."""

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("AgiServer is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        self._closing = False
        # The stream limit bounds one line, so a header without a newline cannot grow.
        self._server = await asyncio.start_server(
            self._on_connect, self.host, self._requested_port, limit=self.max_header_bytes
        )
        log.info("agi server listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        """Stop listening, cancel every session (their sockets close), and wait for them."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        if sessions:
            await asyncio.gather(*sessions, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()
            self._server = None
        log.info("agi server stopped", cancelled_sessions=len(sessions))

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        peer = writer.get_extra_info("peername")
        if self._closing or task is None or len(self._sessions) >= self.max_sessions:
            self.refused += 1
            log.warning(
                "agi connection refused",
                peer=str(peer),
                reason="stopping" if self._closing else "too many sessions",
                max_sessions=self.max_sessions,
            )
            await _close(writer)
            return
        self._sessions.add(task)
        try:
            await self._session(reader, writer, peer)
        except asyncio.CancelledError:
            log.info("agi session cancelled", peer=str(peer))
        except Exception:
            log.exception("agi session failed", peer=str(peer))
        finally:
            self._sessions.discard(task)
            await _close(writer)

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        try:
            async with asyncio.timeout(self.header_timeout_s):
                env = await self._read_headers(reader)
        except TimeoutError:
            self.bad_headers += 1
            log.warning(
                "agi header block too slow", peer=str(peer), timeout_s=self.header_timeout_s
            )
            return
        except HeaderError as exc:
            self.bad_headers += 1
            log.warning("agi header block rejected", peer=str(peer), reason=str(exc))
            return
        channel = AgiChannel(reader, writer, env, command_timeout_s=self.command_timeout_s)
        with structlog.contextvars.bound_contextvars(
            uniqueid=channel.uniqueid, agi_channel=channel.channel
        ):
            log.info("agi session started", script=channel.network_script, args=channel.args)
            try:
                await self._handler(channel)
            finally:
                log.info("agi session ended")

    async def _read_headers(self, reader: asyncio.StreamReader) -> dict[str, str]:
        env: dict[str, str] = {}
        total = 0
        while True:
            try:
                raw = await reader.readline()
            except ValueError as exc:  # LimitOverrunError: a line longer than the limit
                raise HeaderError("header line too long") from exc
            if not raw.endswith(b"\n"):
                raise HeaderError(
                    "connection closed before the header block ended"
                    if raw or env
                    else "connection closed without a header"
                )
            total += len(raw)
            if total > self.max_header_bytes:
                raise HeaderError("header block too large")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not line:
                if not env:
                    raise HeaderError("empty header block")
                return env
            match = _HEADER_RE.match(line)
            if match is None:
                raise HeaderError(f"not an AGI header: {line[:60]!r}")
            if len(env) >= MAX_HEADERS:
                raise HeaderError("too many headers")
            env[match[1]] = match[2]


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(2):
            await writer.wait_closed()
    except (TimeoutError, ConnectionError, OSError) as exc:
        # The peer is gone or stuck; the transport is closed on our side either way.
        log.debug("agi socket close incomplete", reason=repr(exc))
