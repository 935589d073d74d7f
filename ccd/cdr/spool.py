"""The local CDR spool: a finished record is on disk before ccd tries the database.

Layout: ``<spool_dir>/<16-digit sequence>.seg`` files, one record per line::

    <crc32 of the rest, 8 hex> <appended at, ms since the epoch> <record JSON>\\n

Durability, in two steps:

* ``append`` hands the line to the kernel with one ``write(2)`` before it returns, so the
  record survives the ccd process dying (crash, ``kill -9``, OOM) at any later point.
* ``sync`` fsyncs every file appended to since the last call, in a worker thread, once per
  writer tick (``cdr.flush_interval_s``, default 50 ms). Only synced records are handed to
  the database writer. A power loss or kernel crash can lose at most the records appended
  within that window (and records whose ``write`` had not returned).

A segment is rotated after ``segment_max_records`` records or ``segment_max_bytes`` bytes
and deleted once every record in it has been acknowledged (committed to the database).
On start, segments left by an earlier run are replayed: a torn last line (a crash in the
middle of a write) or a line with a bad checksum is skipped and counted, never fatal.
Re-inserting a record that did reach the database before the crash is harmless: the
store inserts with ``ON CONFLICT DO NOTHING``.

Memory stays bounded: decoded records are kept for the segment being written and a few
closed ones; older closed segments are read back from disk when the writer gets to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from ccd.cdr.codec import CodecError, SpoolRecord, decode, encode, record_key
from ccd.clock import Clock, SystemClock

log = structlog.get_logger("ccd.cdr.spool")

SEGMENT_SUFFIX = ".seg"
DEFAULT_SEGMENT_MAX_RECORDS = 2000
DEFAULT_SEGMENT_MAX_BYTES = 16 * 1024 * 1024
# Closed segments whose decoded records stay in memory; later ones are re-read from disk.
DEFAULT_RESIDENT_SEGMENTS = 3


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """A record handed to the writer; acknowledge it once it is committed."""

    segment: int
    index: int
    record: SpoolRecord
    appended_at: float  # wall-clock seconds since the epoch


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    segments: int
    records: int
    torn_lines: int
    corrupt_lines: int


@dataclass(eq=False, slots=True)
class _Segment:
    seq: int
    path: Path
    fd: int | None
    closed: bool
    written: int = 0
    synced: int = 0
    taken: int = 0
    acked: int = 0
    size: int = 0
    first_at: float | None = None
    # Decoded records with their append times, while resident; None when only on disk.
    records: list[tuple[SpoolRecord, float]] | None = field(default_factory=list)


def format_line(record: SpoolRecord, appended_at: float) -> bytes:
    body = b"%d " % round(appended_at * 1000) + encode(record)
    return b"%08x " % zlib.crc32(body) + body + b"\n"


class _BadLine(Exception):
    pass


def parse_line(line: bytes) -> tuple[SpoolRecord, float]:
    """A complete line (newline stripped) back to its record; ``_BadLine`` if damaged."""
    if len(line) < 11 or line[8:9] != b" ":
        raise _BadLine("too short or no checksum")
    body = line[9:]
    try:
        expected = int(line[:8], 16)
    except ValueError:
        raise _BadLine("checksum is not hex") from None
    if zlib.crc32(body) != expected:
        raise _BadLine("checksum mismatch")
    stamp, _, payload = body.partition(b" ")
    try:
        appended_at = int(stamp) / 1000
        return decode(payload), appended_at
    except (ValueError, CodecError) as exc:
        raise _BadLine(str(exc)) from None


@dataclass(slots=True)
class _Scan:
    records: list[tuple[SpoolRecord, float]]
    torn: int
    corrupt: int


def _scan_file(path: Path) -> _Scan:
    data = path.read_bytes()
    lines = data.split(b"\n")
    # Everything after the last newline is a torn write (empty when the file ends cleanly).
    tail = lines.pop()
    records: list[tuple[SpoolRecord, float]] = []
    corrupt = 0
    for line in lines:
        try:
            records.append(parse_line(line))
        except _BadLine as exc:
            corrupt += 1
            log.error("spool line unreadable, skipped", segment=path.name, reason=str(exc))
    return _Scan(records=records, torn=1 if tail else 0, corrupt=corrupt)


class Spool:
    """Append-only segment files; not thread-safe (one event loop), ``sync`` may overlap
    with ``append``."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_max_records: int = DEFAULT_SEGMENT_MAX_RECORDS,
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES,
        resident_segments: int = DEFAULT_RESIDENT_SEGMENTS,
        clock: Clock | None = None,
    ) -> None:
        if segment_max_records < 1 or segment_max_bytes < 1:
            raise ValueError("segment limits must be positive")
        self.directory = directory
        self._clock = clock or SystemClock()
        self._segment_max_records = segment_max_records
        self._segment_max_bytes = segment_max_bytes
        self._resident_segments = resident_segments
        self._segments: list[_Segment] = []
        self._by_seq: dict[int, _Segment] = {}
        self._active: _Segment | None = None
        self._next_seq = 1
        self._directory_dirty = False
        self._sync_lock = asyncio.Lock()
        # Several inserters take batches; a segment read back from disk is read once.
        self._take_lock = asyncio.Lock()
        # The next on-disk segment, being read in a thread while the current one is written.
        self._prefetch: tuple[_Segment, asyncio.Task[_Scan]] | None = None
        self._opened = False
        self.torn_lines = 0
        self.corrupt_lines = 0

    # ----------------------------------------------------------------- lifecycle

    def open(self) -> RecoveryReport:
        """Create the directory and take over segments an earlier run left (blocking I/O:
        call it once at start, e.g. through ``asyncio.to_thread``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        recovered = records = torn = corrupt = 0
        for path in sorted(self.directory.glob("*" + SEGMENT_SUFFIX)):
            try:
                seq = int(path.stem)
            except ValueError:
                log.warning("not a spool segment, ignored", file=path.name)
                continue
            self._next_seq = max(self._next_seq, seq + 1)
            scan = _scan_file(path)
            torn += scan.torn
            corrupt += scan.corrupt
            if scan.torn:
                log.warning("torn last line in spool segment skipped", segment=path.name)
            if not scan.records:
                path.unlink()
                continue
            count = len(scan.records)
            segment = _Segment(
                seq=seq,
                path=path,
                fd=None,
                closed=True,
                written=count,
                synced=count,
                size=path.stat().st_size,
                first_at=scan.records[0][1],
                records=None,  # read again when the writer gets here: bounded memory
            )
            self._add(segment)
            recovered += 1
            records += count
        self.torn_lines += torn
        self.corrupt_lines += corrupt
        self._opened = True
        if recovered or torn or corrupt:
            self._fsync_directory()
        return RecoveryReport(
            segments=recovered, records=records, torn_lines=torn, corrupt_lines=corrupt
        )

    def close(self) -> None:
        """Delete fully acknowledged segments and close files. Call after a last ``sync``."""
        if self._prefetch is not None:
            self._prefetch[1].cancel()
            self._prefetch = None
        for segment in list(self._segments):
            if segment.acked >= segment.written:
                segment.closed = True
                self._delete(segment)
            elif segment.fd is not None:
                os.close(segment.fd)
                segment.fd = None
        self._active = None

    # -------------------------------------------------------------------- append

    def append(self, record: SpoolRecord) -> None:
        """Write one record to the active segment (one ``write(2)``, not yet fsynced),
        stamped with the clock's time."""
        if not self._opened:
            raise RuntimeError("spool not opened")
        appended_at = self._clock.now().timestamp()
        line = format_line(record, appended_at)
        segment = self._active or self._new_segment()
        assert segment.fd is not None
        try:
            view = memoryview(line)
            while view:
                done = os.write(segment.fd, view)
                view = view[done:]
        except OSError:
            # A partial line must stay the last line of its file, or it would merge with
            # the next record: start a fresh segment for whatever comes next.
            self._rotate(segment)
            log.error("spool write failed", key=record_key(record), segment=segment.path.name)
            raise
        segment.written += 1
        segment.size += len(line)
        if segment.first_at is None:
            segment.first_at = appended_at
        if segment.records is not None:
            segment.records.append((record, appended_at))
        if segment.written >= self._segment_max_records or segment.size >= self._segment_max_bytes:
            self._rotate(segment)

    def _new_segment(self) -> _Segment:
        seq = self._next_seq
        self._next_seq += 1
        path = self.directory / f"{seq:016d}{SEGMENT_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        segment = _Segment(seq=seq, path=path, fd=fd, closed=False)
        self._add(segment)
        self._active = segment
        self._directory_dirty = True
        return segment

    def _rotate(self, segment: _Segment) -> None:
        segment.closed = True
        if self._active is segment:
            self._active = None
        resident = [
            s for s in self._segments if s.closed and s.records is not None and s.taken < s.written
        ]
        if len(resident) > self._resident_segments and segment.taken == 0:
            segment.records = None  # the newest waits longest: re-read it from disk later

    # ---------------------------------------------------------------------- sync

    async def sync(self) -> int:
        """fsync everything appended so far (in a thread); returns how many records became
        durable. Closed segments are closed once synced."""
        async with self._sync_lock:
            targets = [
                (segment, segment.written, segment.fd)
                for segment in self._segments
                if segment.fd is not None and (segment.synced < segment.written or segment.closed)
            ]
            directory_dirty = self._directory_dirty
            self._directory_dirty = False
            if not targets and not directory_dirty:
                return 0
            fds = [fd for _segment, _written, fd in targets if fd is not None]
            try:
                await asyncio.to_thread(self._fsync_all, fds, directory_dirty)
            except BaseException:
                self._directory_dirty = self._directory_dirty or directory_dirty
                raise
            newly = 0
            for segment, written, fd in targets:
                if written > segment.synced:
                    newly += written - segment.synced
                    segment.synced = written
                if segment.closed and segment.synced >= segment.written and fd is not None:
                    os.close(fd)
                    segment.fd = None
            return newly

    def _fsync_all(self, fds: Sequence[int], directory: bool) -> None:
        for fd in fds:
            os.fsync(fd)
        if directory:
            self._fsync_directory()

    def _fsync_directory(self) -> None:
        # New segment files must survive a power loss too, not only their contents.
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # ------------------------------------------------------------- take and ack

    async def take(self, limit: int) -> list[SpoolEntry]:
        """Up to ``limit`` durable records not yet handed out, oldest first."""
        async with self._take_lock:
            entries = await self._take(limit)
            self._start_prefetch()
            return entries

    def _start_prefetch(self) -> None:
        if self._prefetch is not None:
            return
        for segment in self._segments:
            if segment.taken < segment.written:
                if segment.records is None:
                    task = asyncio.create_task(asyncio.to_thread(_scan_file, segment.path))
                    self._prefetch = (segment, task)
                    return
                if segment.closed:
                    continue  # resident: look further
                return

    async def _take(self, limit: int) -> list[SpoolEntry]:
        entries: list[SpoolEntry] = []
        for segment in list(self._segments):
            if len(entries) >= limit:
                break
            if segment.taken >= segment.synced:
                continue
            if segment.records is None:
                await self._load(segment)
            records = segment.records
            assert records is not None
            end = min(segment.synced, len(records), segment.taken + limit - len(entries))
            for index in range(segment.taken, end):
                record, appended_at = records[index]
                entries.append(SpoolEntry(segment.seq, index, record, appended_at))
            segment.taken = end
            if segment.closed and segment.taken >= segment.written:
                segment.records = None  # the writer holds them now
        return entries

    async def _load(self, segment: _Segment) -> None:
        try:
            if self._prefetch is not None and self._prefetch[0] is segment:
                task = self._prefetch[1]
                self._prefetch = None
                scan = await task
            else:
                scan = await asyncio.to_thread(_scan_file, segment.path)
        except OSError as exc:
            # Gone or unreadable (deleted by hand, disk error): nothing left to replay from
            # it; say so loudly and keep writing the other segments.
            log.error("spool segment unreadable", segment=segment.path.name, error=str(exc))
            scan = _Scan(records=[], torn=0, corrupt=0)
        segment.records = scan.records
        if len(scan.records) != segment.written:
            # Damaged on disk since it was written: keep what is readable, say so.
            log.error(
                "spool segment shorter than written",
                segment=segment.path.name,
                written=segment.written,
                readable=len(scan.records),
            )
            self.corrupt_lines += scan.corrupt
            segment.written = segment.synced = len(scan.records)
            segment.taken = min(segment.taken, segment.written)
            if segment.closed and segment.acked >= segment.written:
                self._delete(segment)

    def ack(self, entries: Iterable[SpoolEntry]) -> None:
        """These records are committed: forget them; delete segments nobody needs."""
        touched: set[_Segment] = set()
        for entry in entries:
            segment = self._by_seq.get(entry.segment)
            if segment is None:
                continue
            segment.acked += 1
            touched.add(segment)
        for segment in touched:
            if segment.closed and segment.acked >= segment.written:
                self._delete(segment)

    def _add(self, segment: _Segment) -> None:
        self._segments.append(segment)
        self._by_seq[segment.seq] = segment

    def _delete(self, segment: _Segment) -> None:
        if segment.fd is not None:
            os.close(segment.fd)
            segment.fd = None
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()
        self._segments.remove(segment)
        del self._by_seq[segment.seq]
        if self._active is segment:
            self._active = None

    # ------------------------------------------------------------------- status

    @property
    def pending(self) -> int:
        """Records on disk and not yet committed to the database."""
        return sum(s.written - s.acked for s in self._segments)

    @property
    def unsynced(self) -> int:
        return sum(s.written - s.synced for s in self._segments)

    @property
    def ready(self) -> int:
        """Durable records waiting to be taken by the writer."""
        return sum(s.synced - s.taken for s in self._segments)

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    def oldest_untaken_at(self) -> float | None:
        """When the oldest record not yet handed to the writer was appended."""
        for segment in self._segments:
            if segment.taken < segment.written:
                if segment.records is not None and segment.taken < len(segment.records):
                    return segment.records[segment.taken][1]
                return segment.first_at
        return None
