"""One forecast run: read the history the method needs — the same weekday of the last
``weeks`` weeks and the ``weeks`` seven-day windows before the target, one query each
(memory stays bounded by the number of 15-minute buckets, whatever the number of calls) —
then forecast and staff the day (``ccd.forecast.volume``, ``ccd.forecast.staffing``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from ccd.forecast.history import BucketCount, DayHistory, WeekTotal, history_days, trend_weeks
from ccd.forecast.intervals import day_bounds
from ccd.forecast.parameters import ForecastParameters
from ccd.forecast.report import StaffingForecast, staff_day
from ccd.forecast.volume import forecast_day

# (reads done, reads to do, what was just read (a day or a week), its calls)
Progress = Callable[[int, int, str, int], None]


class HistoryReader(Protocol):
    async def buckets(self, queue: str, start: datetime, end: datetime) -> Sequence[BucketCount]:
        """The queue's calls started in [start, end) per 15-minute bucket (UTC)."""


async def read_history(
    reader: HistoryReader,
    queue: str,
    days: Sequence[date],
    zone: ZoneInfo,
    progress: Progress | None = None,
    *,
    total: int | None = None,
) -> list[DayHistory]:
    history: list[DayHistory] = []
    for done, day in enumerate(days, start=1):
        start, end = day_bounds(day, zone)
        read = DayHistory(day, tuple(await reader.buckets(queue, start, end)))
        history.append(read)
        if progress is not None:
            progress(done, total or len(days), str(day), read.offered)
    return history


async def read_weeks(
    reader: HistoryReader,
    queue: str,
    windows: Sequence[tuple[date, date]],
    zone: ZoneInfo,
    progress: Progress | None = None,
    *,
    done_before: int = 0,
    total: int | None = None,
) -> list[WeekTotal]:
    weeks: list[WeekTotal] = []
    for done, (first, last) in enumerate(windows, start=done_before + 1):
        start, end = day_bounds(first, zone)[0], day_bounds(last, zone)[1]
        buckets = await reader.buckets(queue, start, end)  # at most 7 x 100 rows
        open_days = {bucket.start.astimezone(zone).date() for bucket in buckets if bucket.offered}
        week = WeekTotal(first, last, sum(b.offered for b in buckets), len(open_days))
        weeks.append(week)
        if progress is not None:
            progress(done, total or len(windows), f"week {first} to {last}", week.offered)
    return weeks


async def run_forecast(
    reader: HistoryReader,
    params: ForecastParameters,
    zone_name: str,
    today: date,
    progress: Progress | None = None,
) -> StaffingForecast:
    zone = ZoneInfo(zone_name)
    days = history_days(params.day, today, params.weeks)
    windows = trend_weeks(params.day, today, params.weeks)
    total = len(days) + len(windows)
    history = await read_history(reader, params.queue, days, zone, progress, total=total)
    weeks = await read_weeks(
        reader, params.queue, windows, zone, progress, done_before=len(days), total=total
    )
    day = forecast_day(params.day, history, zone, params.interval, weeks)
    return staff_day(params.queue, zone_name, params.interval, day, params.target())
