"""Report buckets in a time zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ccd.reports.buckets import BucketIndex, Interval, TooManyBuckets, build_buckets

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")


def local_starts(start: datetime, end: datetime, interval: Interval, zone: ZoneInfo) -> list[str]:
    return [
        b.start.astimezone(zone).isoformat(timespec="minutes")
        for b in build_buckets(start, end, interval, zone, limit=10_000)
    ]


def test_spring_forward_skips_the_missing_quarter_hours() -> None:
    # Paris, 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC). 01:30-03:30 local is
    # one real hour: 01:30, 01:45, then 03:00, 03:15 — four 15-minute buckets.
    start = datetime(2026, 3, 29, 1, 30, tzinfo=PARIS)
    end = datetime(2026, 3, 29, 3, 30, tzinfo=PARIS)
    buckets = build_buckets(start, end, Interval.MIN15, PARIS, limit=100)
    assert local_starts(start, end, Interval.MIN15, PARIS) == [
        "2026-03-29T01:30+01:00",
        "2026-03-29T01:45+01:00",
        "2026-03-29T03:00+02:00",
        "2026-03-29T03:15+02:00",
    ]
    assert all(b.end - b.start == timedelta(minutes=15) for b in buckets)


def test_fall_back_repeats_the_hour_in_hourly_buckets() -> None:
    # New York, 2026-11-01: 02:00 EDT goes back to 01:00 EST. Hours from 00:00 to 03:00
    # local are 4 real hours, 01:00 twice.
    start = datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK)
    end = datetime(2026, 11, 1, 3, 0, tzinfo=NEW_YORK)
    assert local_starts(start, end, Interval.MIN60, NEW_YORK) == [
        "2026-11-01T00:00-04:00",
        "2026-11-01T01:00-04:00",
        "2026-11-01T01:00-05:00",
        "2026-11-01T02:00-05:00",
    ]


def test_days_across_dst_are_23_and_25_hours_long() -> None:
    spring = build_buckets(
        datetime(2026, 3, 28, tzinfo=PARIS),
        datetime(2026, 3, 31, tzinfo=PARIS),
        Interval.DAY,
        PARIS,
        limit=10,
    )
    assert [b.end - b.start for b in spring] == [
        timedelta(hours=24),
        timedelta(hours=23),
        timedelta(hours=24),
    ]
    autumn = build_buckets(
        datetime(2026, 10, 25, tzinfo=PARIS),
        datetime(2026, 10, 26, tzinfo=PARIS),
        Interval.DAY,
        PARIS,
        limit=10,
    )
    assert [b.end - b.start for b in autumn] == [timedelta(hours=25)]


def test_half_hour_offset_zone_aligns_on_local_hours() -> None:
    # Kolkata is UTC+05:30: local hours start at :30 UTC.
    start = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)  # 09:00 local
    end = start + timedelta(hours=2)
    assert local_starts(start, end, Interval.MIN60, KOLKATA) == [
        "2026-11-24T09:00+05:30",
        "2026-11-24T10:00+05:30",
    ]


def test_ends_are_cut_at_from_and_to() -> None:
    start = datetime(2026, 11, 24, 9, 7, tzinfo=UTC)
    end = datetime(2026, 11, 24, 9, 50, tzinfo=UTC)
    buckets = build_buckets(start, end, Interval.MIN15, ZoneInfo("UTC"), limit=10)
    assert [(b.start.minute, b.end.minute) for b in buckets] == [
        (7, 15),
        (15, 30),
        (30, 45),
        (45, 50),
    ]


def test_too_many_buckets_is_refused_before_building() -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(TooManyBuckets) as refused:
        build_buckets(start, start + timedelta(days=3650), Interval.MIN15, PARIS, limit=3000)
    assert refused.value.limit == 3000
    # Exactly at the limit is allowed: 31 days of quarter hours in UTC are 2,976.
    assert (
        len(
            build_buckets(
                start, start + timedelta(days=31), Interval.MIN15, ZoneInfo("UTC"), limit=2976
            )
        )
        == 2976
    )


def test_empty_range_has_no_buckets() -> None:
    start = datetime(2026, 11, 24, tzinfo=UTC)
    assert build_buckets(start, start, Interval.DAY, PARIS, limit=10) == []


def test_index_finds_buckets_and_spreads_spans() -> None:
    start = datetime(2026, 11, 24, 9, tzinfo=UTC)
    index = BucketIndex(
        build_buckets(start, start + timedelta(hours=1), Interval.MIN15, ZoneInfo("UTC"), limit=10)
    )
    assert index.index_of(start) == 0
    assert index.index_of(start + timedelta(minutes=15)) == 1
    assert index.index_of(start + timedelta(minutes=59, seconds=59)) == 3
    assert index.index_of(start + timedelta(hours=1)) is None  # end is exclusive
    assert index.index_of(start - timedelta(seconds=1)) is None
    # 09:10-09:40 -> 5 min, 15 min, 10 min; a span sticking out of the range is cut.
    assert index.spread(start + timedelta(minutes=10), start + timedelta(minutes=40)) == [
        (0, 300.0),
        (1, 900.0),
        (2, 600.0),
    ]
    assert index.spread(start - timedelta(hours=1), start + timedelta(minutes=1)) == [(0, 60.0)]
    assert index.spread(start + timedelta(hours=2), start + timedelta(hours=3)) == []


def test_naive_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_buckets(
            datetime(2026, 1, 1),  # noqa: DTZ001
            datetime(2026, 1, 2, tzinfo=UTC),
            Interval.DAY,
            PARIS,
            limit=10,
        )
