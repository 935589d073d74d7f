"""What the forecast reads: calls per 15-minute bucket of the days it learns from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True, slots=True)
class BucketCount:
    """Calls offered to a queue that started in one 15-minute UTC bucket."""

    start: datetime  # UTC, a multiple of 15 minutes
    offered: int  # every call that entered the queue (answered, abandoned, overflowed, ...)
    answered: int  # connected to an agent
    handle_s: float  # total handle time of the answered ones: talk (hold included) + wrap-up


@dataclass(frozen=True, slots=True)
class DayHistory:
    day: date  # a local date in the report zone
    buckets: tuple[BucketCount, ...]

    @property
    def offered(self) -> int:
        return sum(bucket.offered for bucket in self.buckets)


def history_days(target: date, today: date, weeks: int) -> tuple[date, ...]:
    """The ``weeks`` latest complete days with ``target``'s weekday before it, most recent
    first. Complete: before ``today`` (today's calls are still coming)."""
    if weeks < 1:
        raise ValueError(f"weeks {weeks} must be >= 1")
    latest = min(target - timedelta(days=7), today - timedelta(days=1))
    # Back to the last day with target's weekday, at or before ``latest``.
    latest -= timedelta(days=(latest.weekday() - target.weekday()) % 7)
    return tuple(latest - timedelta(weeks=k) for k in range(weeks))


@dataclass(frozen=True, slots=True)
class WeekTotal:
    """Calls offered to a queue in seven consecutive local days."""

    first: date
    last: date  # inclusive
    offered: int
    open_days: int  # days with at least one call


def trend_weeks(target: date, today: date, weeks: int) -> tuple[tuple[date, date], ...]:
    """The ``weeks`` seven-day windows (first, last day) ending on the latest complete day
    before ``target``, most recent first: the day-level trend is read from them."""
    if weeks < 1:
        raise ValueError(f"weeks {weeks} must be >= 1")
    last = min(target, today) - timedelta(days=1)
    return tuple(
        (last - timedelta(days=7 * k + 6), last - timedelta(days=7 * k)) for k in range(weeks)
    )
