"""One forecast run: read the history days the method needs, one query per day (memory
stays bounded by the number of 15-minute buckets, whatever the number of calls), then
forecast and staff them (``ccd.forecast.volume``, ``ccd.forecast.staffing``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from ccd.forecast.history import BucketCount, DayHistory, history_days
from ccd.forecast.intervals import day_bounds
from ccd.forecast.parameters import ForecastParameters
from ccd.forecast.report import StaffingForecast, staff_day
from ccd.forecast.volume import forecast_day

# (days read, days to read, the day just read, its calls)
Progress = Callable[[int, int, date, int], None]


class HistoryReader(Protocol):
    async def buckets(self, queue: str, start: datetime, end: datetime) -> Sequence[BucketCount]:
        """The queue's calls started in [start, end) per 15-minute bucket (UTC)."""


async def read_history(
    reader: HistoryReader,
    queue: str,
    days: Sequence[date],
    zone: ZoneInfo,
    progress: Progress | None = None,
) -> list[DayHistory]:
    history: list[DayHistory] = []
    for done, day in enumerate(days, start=1):
        start, end = day_bounds(day, zone)
        read = DayHistory(day, tuple(await reader.buckets(queue, start, end)))
        history.append(read)
        if progress is not None:
            progress(done, len(days), day, read.offered)
    return history


async def run_forecast(
    reader: HistoryReader,
    params: ForecastParameters,
    zone_name: str,
    today: date,
    progress: Progress | None = None,
) -> StaffingForecast:
    zone = ZoneInfo(zone_name)
    days = history_days(params.day, today, params.weeks)
    history = await read_history(reader, params.queue, days, zone, progress)
    day = forecast_day(params.day, history, zone, params.interval)
    return staff_day(params.queue, zone_name, params.interval, day, params.target())
