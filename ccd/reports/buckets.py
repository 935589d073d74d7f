"""Report intervals in a time zone: the boundaries of 15/30/60-minute and daily buckets
between two instants, right across daylight-saving changes (pure).

A boundary is an instant whose local wall-clock time is a multiple of the interval since
local midnight (for ``day``: local midnight). A wall-clock time that does not exist (the
hour skipped in spring) is no boundary, so the bucket before it is shorter in wall time
but not in real time; one that happens twice (autumn) is two boundaries, so each
repeated hour has its own buckets. The first and last buckets are cut at ``from`` and
``to``.
"""

from __future__ import annotations

import bisect
import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


class Interval(enum.StrEnum):
    MIN15 = "15"
    MIN30 = "30"
    MIN60 = "60"
    DAY = "day"

    @property
    def minutes(self) -> int | None:
        """Minutes per bucket; None for ``day`` (days differ in length across DST)."""
        return None if self is Interval.DAY else int(self.value)


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime  # UTC
    end: datetime  # UTC, exclusive


class TooManyBuckets(ValueError):
    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count} buckets, at most {limit}")
        self.count = count
        self.limit = limit


def _local_wall_instants(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants at which ``zone``'s clocks show ``wall`` (naive): none in a
    spring-forward gap, two in an autumn overlap, else one."""
    found: list[datetime] = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        # A wall time in a gap maps to an instant whose own wall time differs.
        if instant.astimezone(zone).replace(tzinfo=None) == wall and instant not in found:
            found.append(instant)
    return found


def _day_boundaries(first: date, last: date, zone: ZoneInfo, minutes: int | None) -> list[datetime]:
    boundaries: list[datetime] = []
    day = first
    step = timedelta(minutes=minutes) if minutes is not None else None
    while day <= last:
        midnight = datetime.combine(day, time(0))
        walls = [midnight]
        if step is not None:
            wall = midnight + step
            while wall.date() == day:
                walls.append(wall)
                wall += step
        for wall in walls:
            boundaries.extend(_local_wall_instants(wall, zone))
        if step is None and not _local_wall_instants(midnight, zone):
            # Midnight skipped (a few zones change at 00:00): the day starts when it resumes.
            boundaries.append(_first_instant_of(day, zone))
        day += timedelta(days=1)
    return boundaries


def _first_instant_of(day: date, zone: ZoneInfo) -> datetime:
    # In a gap, fold=0 resolves with the offset before it, which lands after the gap.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def build_buckets(
    start: datetime, end: datetime, interval: Interval, zone: ZoneInfo, *, limit: int
) -> list[Bucket]:
    """The buckets covering [start, end) (aware datetimes), cut at both ends; raises
    ``TooManyBuckets`` beyond ``limit`` before building them."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("report bounds must be timezone-aware")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    minutes = interval.minutes
    span = end - start
    # A cheap upper bound first, so a huge range is refused without walking it (one
    # DST change per day at most adds a bucket per day).
    days = span.days + 2
    estimate = days if minutes is None else int(span / timedelta(minutes=minutes)) + 2 * days
    if estimate > limit * 2 + 4:
        raise TooManyBuckets(estimate, limit)
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    inner = sorted(
        b for b in set(_day_boundaries(first_day, last_day, zone, minutes)) if start < b < end
    )
    edges = [start, *inner, end]
    if len(edges) - 1 > limit:
        raise TooManyBuckets(len(edges) - 1, limit)
    return [Bucket(a, b) for a, b in itertools.pairwise(edges)]


class BucketIndex:
    """Which bucket an instant falls in (bisect over the starts)."""

    def __init__(self, buckets: Sequence[Bucket]) -> None:
        self.buckets = list(buckets)
        self._starts = [b.start for b in self.buckets]
        self._end = self.buckets[-1].end if self.buckets else None

    def __len__(self) -> int:
        return len(self.buckets)

    def index_of(self, moment: datetime) -> int | None:
        if not self.buckets or self._end is None:
            return None
        if moment < self._starts[0] or moment >= self._end:
            return None
        return bisect.bisect_right(self._starts, moment) - 1

    def spread(self, start: datetime, end: datetime) -> list[tuple[int, float]]:
        """Seconds of [start, end) in each bucket it overlaps: (index, seconds)."""
        if end <= start or not self.buckets or self._end is None:
            return []
        first = max(start, self._starts[0])
        last = min(end, self._end)
        if last <= first:
            return []
        found: list[tuple[int, float]] = []
        index = bisect.bisect_right(self._starts, first) - 1
        while index < len(self.buckets) and self.buckets[index].start < last:
            bucket = self.buckets[index]
            overlap = (min(last, bucket.end) - max(first, bucket.start)).total_seconds()
            if overlap > 0:
                found.append((index, overlap))
            index += 1
        return found
