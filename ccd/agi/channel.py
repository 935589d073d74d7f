"""AGI commands over one FastAGI connection.

Asterisk is the client: it connects, sends an ``agi_*: value`` header block (parsed by
``ccd.agi.server``), then answers each command line we write with one response line such
as ``200 result=0 endpos=1234`` or ``200 result=12 (timeout)``. When the caller hangs up
it may send a lone ``HANGUP`` line, and commands on a dead channel get ``511``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from ccd.domain.safety import is_ami_safe

log = structlog.get_logger("ccd.agi")

DEFAULT_COMMAND_TIMEOUT_S = 30.0
# A prompt plays before GET DATA starts its own digit timeout; allow for long prompts.
PROMPT_ALLOWANCE_S = 120.0
MAX_RESPONSE_LINES = 50

_RESPONSE_RE = re.compile(r"^(?P<code>\d{3}) result=(?P<result>\S*)(?P<rest>.*)$")


class AgiError(Exception):
    """The AGI conversation failed (bad response, timeout, protocol error)."""


class AgiHangup(AgiError):
    """The caller hung up or the connection to Asterisk is gone."""


class AgiUnsafeArgument(AgiError, ValueError):
    """An argument holds CR, LF or NUL: written as is it would inject another command."""


@dataclass(frozen=True, slots=True)
class AgiResponse:
    code: int
    result: str
    data: str | None
    """The text in parentheses after ``result=``, e.g. ``timeout`` or a variable's value."""
    extra: str
    """Whatever follows, e.g. ``endpos=1234``."""
    line: str


def parse_response(line: str) -> AgiResponse:
    """Parse one ``200 result=...`` line; raise ``AgiError`` if it is not one."""
    match = _RESPONSE_RE.match(line)
    if match is None:
        code = line[:3]
        raise AgiError(f"unexpected AGI response {line[:200]!r}" if not code.isdigit() else line)
    rest = match["rest"].strip()
    data: str | None = None
    if rest.startswith("("):
        # GET VARIABLE values may themselves hold parentheses: the data ends at the last ')'.
        end = rest.rfind(")")
        if end > 0:
            data = rest[1:end]
            rest = rest[end + 1 :].strip()
    return AgiResponse(int(match["code"]), match["result"], data, rest, line)


def quote(argument: str) -> str:
    """Quote one argument the way res_agi's parser splits them (double quotes, backslash)."""
    if not is_ami_safe(argument):
        raise AgiUnsafeArgument(f"AGI argument {argument[:40]!r} contains CR, LF or NUL")
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AgiChannel:
    """One call's AGI session. Every command is bounded by a timeout; any sign that the
    caller or the connection is gone raises ``AgiHangup``."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: Mapping[str, str],
        *,
        command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.env: Mapping[str, str] = dict(env)
        self.command_timeout_s = command_timeout_s
        self.hung_up = False
        self._lock = asyncio.Lock()

    # --- the header block ---------------------------------------------------

    def _env(self, key: str) -> str:
        return self.env.get(key, "")

    def _env_known(self, key: str) -> str:
        """Like ``_env``, but Asterisk's placeholder ``unknown`` reads as ""."""
        value = self._env(key)
        return "" if value == "unknown" else value

    @property
    def channel(self) -> str:
        return self._env("agi_channel")

    @property
    def uniqueid(self) -> str:
        return self._env("agi_uniqueid")

    @property
    def callerid(self) -> str:
        return self._env_known("agi_callerid")

    @property
    def calleridname(self) -> str:
        return self._env_known("agi_calleridname")

    @property
    def dnid(self) -> str:
        return self._env_known("agi_dnid")

    @property
    def extension(self) -> str:
        return self._env("agi_extension")

    @property
    def context(self) -> str:
        return self._env("agi_context")

    @property
    def language(self) -> str:
        return self._env("agi_language")

    @property
    def network_script(self) -> str:
        return self._env("agi_network_script")

    @property
    def args(self) -> list[str]:
        """``agi_arg_1`` … ``agi_arg_N`` in order (the AGI() arguments after the URL)."""
        found: list[str] = []
        index = 1
        while (value := self.env.get(f"agi_arg_{index}")) is not None:
            found.append(value)
            index += 1
        return found

    # --- the command loop -----------------------------------------------------

    async def command(self, *words: str, timeout_s: float | None = None) -> AgiResponse:
        """Send one command (first word verbatim, the rest quoted) and read its response."""
        verb, *arguments = words
        if not is_ami_safe(verb):
            raise AgiUnsafeArgument(f"AGI command {verb[:40]!r} contains CR, LF or NUL")
        line = " ".join([verb, *(quote(argument) for argument in arguments)]) + "\n"
        if self.hung_up:
            raise AgiHangup("channel already hung up")
        async with self._lock:
            try:
                async with asyncio.timeout(timeout_s or self.command_timeout_s):
                    self._writer.write(line.encode())
                    await self._writer.drain()
                    response = await self._read_response()
            except TimeoutError as exc:
                # The conversation is out of step now: nothing later can be trusted.
                self._broken()
                raise AgiHangup(f"no AGI response to {verb} in time") from exc
            except (ConnectionError, OSError) as exc:
                self._broken()
                raise AgiHangup(f"AGI connection lost: {exc}") from exc
        if response.code == 511:
            self.hung_up = True
            raise AgiHangup(response.line)
        if response.code != 200:
            raise AgiError(f"{verb}: {response.line}")
        return response

    def _broken(self) -> None:
        self.hung_up = True
        self._writer.close()

    async def _read_line(self) -> str:
        try:
            raw = await self._reader.readline()
        except ValueError as exc:  # a line over the stream limit
            raise AgiError("AGI response line too long") from exc
        if not raw.endswith(b"\n"):
            self.hung_up = True
            raise AgiHangup("AGI connection closed by Asterisk")
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    async def _read_response(self) -> AgiResponse:
        for _ in range(MAX_RESPONSE_LINES):
            line = await self._read_line()
            if line == "HANGUP":
                # Sent once, asynchronously, when the caller hangs up (AGISIGHUP).
                self.hung_up = True
                raise AgiHangup("caller hung up")
            if not line:
                continue
            if len(line) > 3 and line[:3].isdigit() and line[3] == "-":
                # "520-Invalid command syntax. Proper usage follows:" … "520 End of …"
                code = line[:3]
                for _ in range(MAX_RESPONSE_LINES):
                    more = await self._read_line()
                    if more.startswith(code + " "):
                        break
                return AgiResponse(int(code), "", None, "", line)
            if line[:3].isdigit() and not line.startswith("200 result="):
                return AgiResponse(int(line[:3]), "", None, line[4:], line)
            return parse_response(line)
        raise AgiError("AGI response did not end")

    # --- commands -------------------------------------------------------------

    async def answer(self) -> None:
        response = await self.command("ANSWER")
        if response.result == "-1":
            raise AgiHangup("ANSWER failed")

    async def stream_file(self, name: str, escape_digits: str = "") -> str:
        """Play a sound file; the digit that interrupted it, or "".

        A missing file is ``result=-1 endpos=0`` without a hangup: raises
        ``AgiPromptFailed`` so the IVR can take its fallback path."""
        response = await self.command("STREAM FILE", name, escape_digits)
        return _digit_or_failure(response, name)

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str:
        """Play ``prompt`` and collect up to ``max_digits`` digits ("" when none came)."""
        response = await self.command(
            "GET DATA",
            prompt,
            str(int(timeout_ms)),
            str(int(max_digits)),
            timeout_s=PROMPT_ALLOWANCE_S + timeout_ms / 1000,
        )
        if response.result == "-1":
            self.hung_up = True
            raise AgiHangup("GET DATA: channel hung up")
        return response.result

    async def wait_for_digit(self, timeout_ms: int) -> str:
        """Wait up to ``timeout_ms`` for one DTMF digit ("" when none came)."""
        response = await self.command(
            "WAIT FOR DIGIT", str(int(timeout_ms)), timeout_s=PROMPT_ALLOWANCE_S + timeout_ms / 1000
        )
        if response.result == "-1":
            # Hung up, or taken out of the AGI (Bridge() pulls a waiting caller away).
            self.hung_up = True
            raise AgiHangup("WAIT FOR DIGIT: channel gone")
        code = int(response.result or "0")
        return chr(code) if code > 0 else ""

    async def music_on_hold(self, music_class: str = "default") -> None:
        """Start music on hold; it plays while the session waits between commands."""
        await self.command("SET MUSIC", "on", music_class)

    async def say_number(self, number: int, escape_digits: str = "") -> str:
        response = await self.command("SAY NUMBER", str(int(number)), escape_digits)
        return _digit_or_failure(response, f"number {number}")

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET VARIABLE", name, value)

    async def get_variable(self, name: str) -> str | None:
        response = await self.command("GET VARIABLE", name)
        if response.result != "1":
            return None
        return response.data or ""

    async def exec(self, app: str, args: str = "") -> str:
        """Run a dialplan application; its result code (``-2`` means no such app)."""
        response = await self.command("EXEC", app, args, timeout_s=PROMPT_ALLOWANCE_S)
        if response.result == "-1":
            self.hung_up = True
            raise AgiHangup(f"EXEC {app}: channel hung up")
        return response.result

    async def hangup(self) -> None:
        await self.command("HANGUP")
        self.hung_up = True

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", message, str(level))

    async def close(self) -> None:
        self._writer.close()
        try:
            async with asyncio.timeout(2):
                await self._writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError):
            log.debug("agi socket close did not complete cleanly")


class AgiPromptFailed(AgiError):
    """STREAM FILE could not play the file (usually: it does not exist)."""


def _digit_or_failure(response: AgiResponse, name: str) -> str:
    try:
        code = int(response.result)
    except ValueError as exc:
        raise AgiError(f"STREAM FILE {name}: {response.line}") from exc
    if code < 0:
        raise AgiPromptFailed(f"cannot play {name!r}")
    return chr(code) if code > 0 else ""
