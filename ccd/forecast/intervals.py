"""A day's intervals in the report zone, and the wall-clock slot each instant falls in.

A day runs from local midnight to the next local midnight, so a spring-forward day has
23 hours and a fall-back day 25. Its intervals are consecutive spans of ``minutes`` of
real time from local midnight; each is labelled by the local time it starts at.

History is matched to the forecast day by **wall clock**: callers ring at 09:00 on the
clock whatever the UTC offset, so a past call is counted in the slot its local start
time falls in (``wall_slot``). The repeated hour of a fall-back day is a second
occurrence of its slot (``fold`` 1); the skipped hour of a spring-forward day has no slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

INTERVAL_MINUTES = (15, 30, 60)
# Every UTC offset in use is a multiple of 15 minutes: history is read in 15-minute UTC
# buckets, each of which lies inside one local interval of any allowed size.
BUCKET_MINUTES = 15


@dataclass(frozen=True, slots=True)
class WallSlot:
    """Where an instant falls on the local clock: the interval index counted from local
    midnight on the wall clock, and which occurrence it is (1: a repeated fall-back hour)."""

    index: int
    fold: int


@dataclass(frozen=True, slots=True)
class Interval:
    start: datetime  # UTC
    end: datetime  # UTC
    local_start: datetime  # aware, in the report zone
    slot: WallSlot


def check_interval(minutes: int) -> None:
    if minutes not in INTERVAL_MINUTES:
        raise ValueError(f"interval {minutes} must be one of {INTERVAL_MINUTES} minutes")


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """Local midnight of ``day`` and of the day after, in UTC."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def wall_slot(instant: datetime, zone: tzinfo, minutes: int) -> WallSlot:
    """The slot of ``instant`` (aware) on the wall clock of ``zone``."""
    local = instant.astimezone(zone)
    index = (local.hour * 60 + local.minute) // minutes
    return WallSlot(index, local.fold)


def day_intervals(day: date, zone: tzinfo, minutes: int) -> tuple[Interval, ...]:
    """The intervals of ``day`` in ``zone``: 24·60/minutes of them on an ordinary day,
    fewer on a spring-forward day, more on a fall-back day."""
    check_interval(minutes)
    start, end = day_bounds(day, zone)
    step = timedelta(minutes=minutes)
    intervals: list[Interval] = []
    at = start
    while at < end:
        until = min(at + step, end)
        intervals.append(Interval(at, until, at.astimezone(zone), wall_slot(at, zone, minutes)))
        at = until
    return tuple(intervals)
