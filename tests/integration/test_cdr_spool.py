"""The CDR spool on a real file system: what is appended survives a restart, damaged
lines are skipped and counted, segments disappear once their records are committed."""

from __future__ import annotations

from pathlib import Path

from ccd.cdr.spool import DEFAULT_RESIDENT_SEGMENTS, DEFAULT_SEGMENT_MAX_RECORDS, Spool
from tests.cdrsamples import sample_asterisk_cdr, sample_call
from tests.clock import T0, FakeClock


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def opened(
    directory: Path,
    *,
    segment_max_records: int = DEFAULT_SEGMENT_MAX_RECORDS,
    resident_segments: int = DEFAULT_RESIDENT_SEGMENTS,
) -> Spool:
    spool = Spool(
        directory, segment_max_records=segment_max_records, resident_segments=resident_segments
    )
    spool.open()
    return spool


async def test_records_come_back_in_order_and_committed_segments_are_deleted(
    tmp_path: Path,
) -> None:
    spool = opened(tmp_path, segment_max_records=3)
    records = [sample_call(f"call-{n}") for n in range(7)]
    for record in records:
        spool.append(record)
    assert spool.pending == 7
    assert len(segments(tmp_path)) == 3

    assert await spool.sync() == 7
    first = await spool.take(4)
    assert [e.record for e in first] == records[:4]
    spool.ack(first)
    # The first segment (3 records) is fully committed; the second is not.
    assert len(segments(tmp_path)) == 2
    assert spool.pending == 3

    rest = await spool.take(100)
    assert [e.record for e in rest] == records[4:]
    spool.ack(rest)
    assert spool.pending == 0
    spool.close()
    assert segments(tmp_path) == []


async def test_only_fsynced_records_are_handed_out(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    spool.append(sample_call("a"))
    assert await spool.take(10) == []
    assert spool.unsynced == 1
    await spool.sync()
    spool.append(sample_call("b"))
    taken = await spool.take(10)
    assert [e.record.linkedid for e in taken] == ["a"]
    assert spool.ready == 0
    assert spool.unsynced == 1


async def test_appended_records_survive_the_process_without_close_or_fsync(
    tmp_path: Path,
) -> None:
    crashed = opened(tmp_path, segment_max_records=4)
    records = [sample_call(f"call-{n}") for n in range(10)] + [sample_asterisk_cdr()]
    for record in records:
        crashed.append(record)
    # No sync, no close: as if the process was killed right here.

    restarted = Spool(tmp_path, segment_max_records=4)
    report = restarted.open()
    assert (report.records, report.segments, report.torn_lines) == (11, 3, 0)
    assert restarted.pending == 11
    taken = await restarted.take(100)
    assert [e.record for e in taken] == records
    # New records go to a new segment after the recovered ones.
    restarted.append(sample_call("new"))
    assert segments(tmp_path)[-1].name > segments(tmp_path)[-2].name


async def test_a_torn_last_line_is_skipped_and_counted(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    spool.append(sample_call("whole"))
    spool.append(sample_call("torn"))
    spool.close()
    (segment,) = segments(tmp_path)
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) - 40])  # the crash came mid-write

    restarted = Spool(tmp_path)
    report = restarted.open()
    assert (report.records, report.torn_lines, report.corrupt_lines) == (1, 1, 0)
    assert [e.record.linkedid for e in await restarted.take(10)] == ["whole"]


async def test_a_damaged_line_in_the_middle_is_skipped_and_the_rest_kept(
    tmp_path: Path,
) -> None:
    spool = opened(tmp_path)
    for name in ("one", "two", "three"):
        spool.append(sample_call(name))
    spool.close()
    (segment,) = segments(tmp_path)
    lines = segment.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"two", b"TWO")  # bit rot: the checksum no longer matches
    segment.write_bytes(b"\n".join(lines))

    restarted = Spool(tmp_path)
    report = restarted.open()
    assert (report.records, report.torn_lines, report.corrupt_lines) == (2, 0, 1)
    assert [e.record.linkedid for e in await restarted.take(10)] == ["one", "three"]
    assert restarted.corrupt_lines == 1


async def test_garbage_files_never_stop_startup(tmp_path: Path) -> None:
    (tmp_path / "0000000000000001.seg").write_bytes(b"\x00\x00\x00garbage without newline")
    (tmp_path / "0000000000000002.seg").write_bytes(b"")
    (tmp_path / "notes.seg").write_text("not a segment name\n")
    spool = Spool(tmp_path)
    report = spool.open()
    assert report.records == 0
    assert report.torn_lines == 1
    assert spool.pending == 0
    # Segments with nothing readable are removed; unknown files are left alone.
    assert [p.name for p in segments(tmp_path)] == ["notes.seg"]


async def test_a_backlog_larger_than_memory_is_read_back_from_disk(tmp_path: Path) -> None:
    spool = opened(tmp_path, segment_max_records=5, resident_segments=1)
    records = [sample_call(f"call-{n}", legs=1) for n in range(53)]
    for record in records:
        spool.append(record)
    await spool.sync()
    # Only a few closed segments keep decoded records; the rest wait on disk.
    resident = [s for s in spool._segments if s.records is not None]
    assert len(resident) <= 3
    seen = []
    while batch := await spool.take(7):
        seen += [e.record for e in batch]
        spool.ack(batch)
    assert seen == records
    spool.close()
    assert segments(tmp_path) == []


async def test_acknowledged_segments_are_not_replayed(tmp_path: Path) -> None:
    spool = opened(tmp_path, segment_max_records=2)
    for n in range(5):
        spool.append(sample_call(f"call-{n}"))
    await spool.sync()
    spool.ack(await spool.take(2))

    restarted = Spool(tmp_path, segment_max_records=2)
    report = restarted.open()
    assert report.records == 3
    assert [e.record.linkedid for e in await restarted.take(10)] == [
        "call-2",
        "call-3",
        "call-4",
    ]


async def test_oldest_pending_age_comes_from_append_time(tmp_path: Path) -> None:
    clock = FakeClock()
    spool = Spool(tmp_path, clock=clock)
    spool.open()
    assert spool.oldest_untaken_at() is None
    spool.append(sample_call("old"))
    clock.advance(1000.0)
    spool.append(sample_call("new"))
    assert spool.oldest_untaken_at() == T0.timestamp()
    await spool.sync()
    entries = await spool.take(1)
    assert entries[0].appended_at == T0.timestamp()
    assert spool.oldest_untaken_at() == T0.timestamp() + 1000.0

    # The append time is on disk: a restart keeps it.
    spool.close()
    restarted = Spool(tmp_path, clock=clock)
    restarted.open()
    assert restarted.oldest_untaken_at() == T0.timestamp()


async def test_a_segment_deleted_behind_its_back_does_not_stop_the_others(
    tmp_path: Path,
) -> None:
    crashed = opened(tmp_path, segment_max_records=2)
    for n in range(6):
        crashed.append(sample_call(f"call-{n}"))
    restarted = Spool(tmp_path, segment_max_records=2)
    assert restarted.open().segments == 3
    segments(tmp_path)[1].unlink()  # an operator's rm, a disk error
    taken = await restarted.take(10)
    assert [e.record.linkedid for e in taken] == ["call-0", "call-1", "call-4", "call-5"]
    restarted.ack(taken)
    assert restarted.pending == 0
    assert segments(tmp_path) == []
