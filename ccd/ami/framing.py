"""Bounded AMI frame decoder: bytes in, header dicts out.

panoramisk splits an ever-growing string on CRLFCRLF and dies on a duplicated ``Event:``
header. This decoder holds at most ``max_frame_bytes`` of an unfinished frame, counts and
skips every malformed frame, and keeps the stream going with the next one.

Hot path: a chunk is normalised (CRLF -> LF) and decoded once, then every frame is split
into lines and each line partitioned at its first ``": "`` into a dict. ``ChanVariable``
lines (``channelvars=`` in manager.conf puts one in nearly every real event) are renamed
in the frame's text first with a few ``str.find`` calls, so they stay on that path. Only
frames the fast path cannot vouch for (repeated headers, missing colons, command output,
odd ``ChanVariable`` spellings) take the careful path, which decides what is malformed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from panoramisk.message import Message

MIB = 1024 * 1024
GREETING_PREFIX = b"Asterisk Call Manager/"

# A second copy of one of these makes the frame ambiguous: which one is meant?
_UNIQUE_HEADERS = frozenset({"Event", "Response", "ActionID"})
# Success responses whose body lines carry no colon (old-style ``Command`` output).
_FOLLOWS = "Follows"
# Asterisk >= 14 sends command output as repeated ``Output:`` headers: keep them all.
_MULTILINE_HEADER = "Output"
# ``channelvars=`` in manager.conf adds ``ChanVariable: NAME=value`` lines (prefixed, e.g.
# ``DestChanVariable``, when an event carries several channels).
_CHANVAR_SUFFIX = "ChanVariable"
_CHANVAR_KEY_END = _CHANVAR_SUFFIX + ":"

Frame = dict[str, str]

# Asterisk 22's widest events (CoreShowChannel, DialBegin with channelvars) stay well under
# 100 headers; a frame past this is garbage or an attack, not a call.
DEFAULT_MAX_HEADERS = 128


class FrameDecoder:
    """Incremental AMI decoder. Feed it bytes as they arrive; it returns complete frames."""

    def __init__(self, max_frame_bytes: int = MIB, max_headers: int = DEFAULT_MAX_HEADERS) -> None:
        if max_frame_bytes < 64:
            raise ValueError("max_frame_bytes must be at least 64")
        self.max_frame_bytes = max_frame_bytes
        self.max_headers = max_headers
        self.greeting: str | None = None
        self.frames = 0
        self.malformed = 0
        self.malformed_by_reason: Counter[str] = Counter()
        self.repeated_headers = 0
        self._buffer = b""
        self._pending_cr = False
        self._awaiting_greeting = True
        self._discarding = False

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for an unfinished frame (never more than ``max_frame_bytes``)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        data = self._normalise(data)
        if self._discarding:
            data = self._skip_discarded(data)
            if self._discarding:
                return []
        buffer = self._buffer + data if self._buffer else data
        if self._awaiting_greeting:
            buffer = self._take_greeting(buffer)
            if self._awaiting_greeting:
                self._keep(buffer)
                return []
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._keep(buffer)
            return []
        self._keep(buffer[end + 2 :])
        return self._parse_block(buffer[:end])

    # -- stream handling -------------------------------------------------------------

    def _normalise(self, data: bytes) -> bytes:
        """CRLF -> LF, carrying a CR that ends one chunk over to the next."""
        if self._pending_cr:
            data = b"\r" + data
            self._pending_cr = False
        if data.endswith(b"\r"):
            self._pending_cr = True
            data = data[:-1]
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        return data

    def _keep(self, rest: bytes) -> None:
        if len(rest) > self.max_frame_bytes:
            # Drop what we have and ignore everything up to the next frame boundary.
            self._count("oversize")
            self._discarding = True
            self._buffer = rest[-1:] if rest.endswith(b"\n") else b""
            return
        self._buffer = rest

    def _skip_discarded(self, data: bytes) -> bytes:
        # The last kept byte may be the first LF of the boundary.
        joined = self._buffer + data
        end = joined.find(b"\n\n")
        if end < 0:
            self._buffer = b"\n" if joined.endswith(b"\n") else b""
            return b""
        self._discarding = False
        self._buffer = b""
        return joined[end + 2 :]

    def _take_greeting(self, buffer: bytes) -> bytes:
        newline = buffer.find(b"\n")
        if newline < 0:
            if len(buffer) >= len(GREETING_PREFIX) and not buffer.startswith(GREETING_PREFIX):
                self._awaiting_greeting = False
            return buffer
        self._awaiting_greeting = False
        first = buffer[:newline]
        if first.startswith(GREETING_PREFIX):
            self.greeting = first.decode("utf-8", "replace").strip()
            return buffer[newline + 1 :]
        return buffer

    # -- frame parsing ---------------------------------------------------------------

    def _parse_block(self, block: bytes) -> list[Frame]:
        try:
            pieces = block.decode("utf-8").split("\n\n")
        except UnicodeDecodeError:
            pieces = []
            for raw in block.split(b"\n\n"):
                try:
                    pieces.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    self._count("bad_utf8")
        frames: list[Frame] = []
        append = frames.append
        max_bytes = self.max_frame_bytes
        max_headers = self.max_headers
        # Only a block longer than the limit can hold an oversize frame.
        check_size = len(block) > max_bytes
        for text in pieces:
            if check_size and len(text) > max_bytes:
                self._count("oversize")
                continue
            named = _name_chanvars(text) if _CHANVAR_KEY_END in text else text
            lines = (text if named is None else named).split("\n")
            if len(lines) > max_headers:
                self._count("too_many_headers")
                continue
            if named is not None:
                headers: Frame = {}
                for line in lines:
                    key, sep, value = line.partition(": ")
                    if not sep:
                        break
                    headers[key] = value
                else:
                    # Fewer keys than lines: a repeated header, for the careful path.
                    if len(headers) == len(lines):
                        if "Event" in headers or "Response" in headers:
                            append(headers)
                        else:
                            self._count("no_type")
                        continue
                if named is not text:
                    lines = text.split("\n")  # the careful path judges the lines as sent
            parsed = self._parse_careful(lines)
            if parsed is not None:
                append(parsed)
        self.frames += len(frames)
        return frames

    def _parse_careful(self, lines: list[str]) -> Frame | None:
        headers: Frame = {}
        body: list[str] = []
        for line in lines:
            if not line:
                continue  # stray blank line between frames
            key, sep, value = line.partition(":")
            if not sep:
                if headers.get("Response") == _FOLLOWS:
                    body.append(line)
                    continue
                self._count("no_colon")
                return None
            if value[:1] == " ":
                value = value[1:]
            if key.endswith(_CHANVAR_SUFFIX):
                name, _, var_value = value.partition("=")
                key = f"{key}({name})"
                value = var_value
            if key in headers:
                if key in _UNIQUE_HEADERS:
                    self._count("duplicate_header")
                    return None
                if key == _MULTILINE_HEADER:
                    headers[key] += "\n" + value
                    continue
                self.repeated_headers += 1
                continue
            headers[key] = value
        if not headers:
            return None  # only blank lines: nothing was sent
        if "Event" not in headers and "Response" not in headers:
            self._count("no_type")
            return None
        if body:
            output = "\n".join(body)
            headers[_MULTILINE_HEADER] = (
                headers[_MULTILINE_HEADER] + "\n" + output
                if _MULTILINE_HEADER in headers
                else output
            )
        return headers

    def _count(self, reason: str) -> None:
        self.malformed += 1
        self.malformed_by_reason[reason] += 1


def _name_chanvars(text: str) -> str | None:
    """``<prefix>ChanVariable: NAME=value`` lines rewritten as ``<prefix>ChanVariable(NAME):
    value``, which the fast path then parses into what the careful path makes of the
    original line. None when some occurrence is not that plain shape (no space after the
    colon, a colon earlier on the line, ``": "`` inside NAME): the careful path decides."""
    pieces: list[str] = []
    copied = 0
    found = text.find(_CHANVAR_KEY_END)
    while found >= 0:
        line_start = text.rfind("\n", 0, found) + 1
        colon = found + len(_CHANVAR_SUFFIX)
        if text.find(":", line_start, found) >= 0 or text[colon + 1 : colon + 2] != " ":
            return None
        line_end = text.find("\n", colon)
        if line_end < 0:
            line_end = len(text)
        equals = text.find("=", colon, line_end)
        name_end = line_end if equals < 0 else equals
        name = text[colon + 2 : name_end]
        if ": " in name:
            return None
        pieces += (text[copied:colon], "(", name, "): ")
        copied = line_end if equals < 0 else equals + 1
        found = text.find(_CHANVAR_KEY_END, colon)
    pieces.append(text[copied:])
    return "".join(pieces)


def to_message(frame: Frame) -> Any:
    """A panoramisk ``Message`` for the frame, so panoramisk's response matching applies."""
    content = frame.get(_MULTILINE_HEADER, "") if frame.get("Response") == _FOLLOWS else ""
    message = Message(frame, content)
    # panoramisk files ``content`` as a header; keep the frame exactly as it was decoded.
    message.ccd_frame = frame
    return message


def message_to_frame(message: Any) -> Frame:
    """Back from a panoramisk ``Message`` (built by ``to_message``) to the decoded dict."""
    frame = vars(message).get("ccd_frame")
    if isinstance(frame, dict):
        return frame
    return {str(key): str(value) for key, value in message.items() if key != "content"}
