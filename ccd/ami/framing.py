"""Bounded AMI frame decoder: bytes in, header dicts out.

panoramisk splits an ever-growing string on CRLFCRLF and dies on a duplicated ``Event:``
header. This decoder holds at most ``max_frame_bytes`` of an unfinished frame, counts and
skips every malformed frame, and keeps the stream going with the next one.

Hot path: bytes stay as sent (CRLF is not rewritten); a block of complete frames is decoded
once and split into frames and lines on CRLF, and each line is partitioned at its first
``": "`` into a dict. ``<prefix>ChanVariable: NAME=value`` lines (``channelvars=`` in
manager.conf puts one in nearly every real event) are renamed in that dict afterwards
with a few ``str.find`` calls. Frames with bare LFs (mixed line endings, old-style command
output) are split as LF frames. Only frames the fast path cannot vouch for (repeated
headers, missing colons, command output, odd ``ChanVariable`` spellings) take the careful
path, which decides what is malformed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
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

# Frames are decoded in slices of about this size (kept in a core's cache).
_SLICE_BYTES = 16 * 1024


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
        self._awaiting_greeting = True
        self._discarding = False

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for an unfinished frame (never more than ``max_frame_bytes``)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Every frame ``data`` completes, in order."""
        frames: list[Frame] = []
        for batch in self.feed_batches(data):
            frames += batch
        return frames

    def feed_batches(self, data: bytes) -> Iterator[list[Frame]]:
        """The frames ``data`` completes, one batch per ~16 KiB slice, decoded as the
        caller asks for the next one: handling each batch before decoding the next keeps
        its dicts in the CPU cache (a 256 KiB read is ~580 frames). Consume it to the end:
        the decoder's state already counts the whole of ``data`` consumed."""
        if self._discarding:
            data = self._skip_discarded(data)
            if self._discarding:
                return
        held = self._buffer
        # What is held has no frame boundary; only its last two bytes can start one.
        search_from = len(held) - 2 if len(held) > 2 else 0
        buffer = held + data if held else data
        if self._awaiting_greeting:
            buffer = self._take_greeting(buffer)
            search_from = 0
            if self._awaiting_greeting:
                self._keep(buffer)
                return
        # The last empty line: LF LF, or LF CR LF (CRLF CRLF and mixed endings).
        lf = buffer.rfind(b"\n\n", search_from)
        crlf = buffer.rfind(b"\n\r\n", search_from)
        if lf < 0 and crlf < 0:
            self._keep(buffer)
            return
        newline, rest = (lf, lf + 2) if lf > crlf else (crlf, crlf + 3)
        if newline and buffer[newline - 1] == 13:  # the CR of the last line's CRLF
            newline -= 1
        self._keep(buffer[rest:])
        block = buffer[:newline]
        if len(block) <= _SLICE_BYTES:
            yield self._parse_slice(block)
            return
        # asyncio hands over up to 256 KiB at once: decoding that in one go leaves the
        # text, its pieces and the new dicts out of the CPU cache; slices of complete
        # frames stay in it (cut at CRLF CRLF; a cut can only move a blank line, which
        # the careful path skips).
        start = 0
        while len(block) - start > _SLICE_BYTES:
            cut = block.find(b"\r\n\r\n", start + _SLICE_BYTES)
            if cut < 0:
                break
            yield self._parse_slice(block[start:cut])
            start = cut + 4
        yield self._parse_slice(block[start:])

    # -- stream handling -------------------------------------------------------------

    def _keep(self, rest: bytes) -> None:
        if len(rest) > self.max_frame_bytes:
            # Drop what we have and ignore everything up to the next frame boundary.
            self._count("oversize")
            self._discarding = True
            self._buffer = _boundary_start(rest)
            return
        self._buffer = rest

    def _skip_discarded(self, data: bytes) -> bytes:
        # The kept bytes may be the start of the boundary (LF, or LF CR).
        joined = self._buffer + data
        lf = joined.find(b"\n\n")
        crlf = joined.find(b"\n\r\n")
        if lf < 0 and crlf < 0:
            self._buffer = _boundary_start(joined)
            return b""
        self._discarding = False
        self._buffer = b""
        # The first empty line ends the discarded frame.
        if crlf < 0 or 0 <= lf < crlf:
            return joined[lf + 2 :]
        return joined[crlf + 3 :]

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

    def _parse_slice(self, block: bytes) -> list[Frame]:
        crlf = b"\r" in block
        try:
            pieces = block.decode("utf-8").split("\r\n\r\n" if crlf else "\n\n")
        except UnicodeDecodeError:
            # Rare: judge each LF-normalised frame on its own.
            crlf = False
            pieces = []
            for raw in block.replace(b"\r\n", b"\n").split(b"\n\n"):
                try:
                    pieces.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    self._count("bad_utf8")
        frames: list[Frame] = []
        append = frames.append
        parse = self._parse_frame
        line_break = "\r\n" if crlf else "\n"
        max_bytes = self.max_frame_bytes
        # Only a block longer than the limit can hold an oversize frame.
        check_size = len(block) > max_bytes
        for text in pieces:
            lines = text.split(line_break)
            if crlf and text.count("\n") != len(lines) - 1:
                # Bare LFs in a CRLF stream: LF-normalised, this piece may hold several frames.
                for part in text.replace("\r\n", "\n").split("\n\n"):
                    if check_size and len(part) > max_bytes:
                        self._count("oversize")
                        continue
                    frame = parse(part, part.split("\n"))
                    if frame is not None:
                        append(frame)
                continue
            if check_size and len(text) > max_bytes:
                self._count("oversize")
                continue
            frame = parse(text, lines)
            if frame is not None:
                append(frame)
        self.frames += len(frames)
        return frames

    def _parse_frame(self, text: str, lines: list[str]) -> Frame | None:
        if len(lines) > self.max_headers:
            self._count("too_many_headers")
            return None
        headers: Frame = {}
        for line in lines:
            key, sep, value = line.partition(": ")
            if not sep:
                break
            headers[key] = value
        else:
            if len(headers) == len(lines):
                if _CHANVAR_KEY_END in text and not _name_chanvar_headers(text, headers):
                    return self._parse_careful(lines)
                if "Event" in headers or "Response" in headers:
                    return headers
                self._count("no_type")
                return None
            if _CHANVAR_KEY_END in text:
                # Several ``channelvars``: one ``ChanVariable`` key per variable.
                return self._parse_named(text, lines)
        return self._parse_careful(lines)

    def _parse_named(self, text: str, lines: list[str]) -> Frame | None:
        named = _name_chanvars(text.replace("\r\n", "\n"))
        if named is not None:
            named_lines = named.split("\n")
            headers: Frame = {}
            for line in named_lines:
                key, sep, value = line.partition(": ")
                if not sep:
                    break
                headers[key] = value
            else:
                if len(headers) == len(named_lines) and (
                    "Event" in headers or "Response" in headers
                ):
                    return headers
        return self._parse_careful(lines)

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


def _boundary_start(data: bytes) -> bytes:
    """The bytes at the end of ``data`` that may begin a frame boundary."""
    if data.endswith(b"\n"):
        return b"\n"
    if data.endswith(b"\n\r"):
        return b"\n\r"
    return b""


def _name_chanvar_headers(text: str, headers: Frame) -> bool:
    """Rename, in ``headers`` (the fast parse of ``text``, one key per line), every
    ``<prefix>ChanVariable`` header to ``<prefix>ChanVariable(NAME)`` with the value after
    ``NAME=``, as the careful path would. False when an occurrence is not a plain
    ``<prefix>ChanVariable: `` line start (then ``headers`` is half-done: discard it)."""
    found = text.find(_CHANVAR_KEY_END)
    while found >= 0:
        colon = found + len(_CHANVAR_SUFFIX)
        key = text[text.rfind("\n", 0, found) + 1 : colon]
        # The careful path splits at the first colon: it must be this one, then a space.
        if ":" in key or text[colon + 1 : colon + 2] != " ":
            return False
        value = headers.pop(key, None)
        if value is None:
            return False
        name, _, var_value = value.partition("=")
        renamed = f"{key}({name})"
        if renamed in headers:
            return False
        headers[renamed] = var_value
        found = text.find(_CHANVAR_KEY_END, colon + 1)
    return True


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
