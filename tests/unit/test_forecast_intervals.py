"""A day's intervals in the report zone (DST days included) and which past days a forecast
learns from."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from ccd.forecast.history import history_days, trend_weeks
from ccd.forecast.intervals import WallSlot, day_intervals, wall_slot

PARIS = ZoneInfo("Europe/Paris")


def test_ordinary_day_in_utc_has_48_half_hours() -> None:
    intervals = day_intervals(date(2026, 11, 23), UTC, 30)
    assert len(intervals) == 48
    assert intervals[0].start == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    assert intervals[-1].end == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert intervals[19].local_start.strftime("%H:%M") == "09:30"
    assert intervals[19].slot == WallSlot(19, 0)


def test_local_midnight_is_the_start_of_a_paris_day() -> None:
    first = day_intervals(date(2026, 11, 23), PARIS, 60)[0]
    assert first.start == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


def test_spring_forward_day_has_23_hours_and_no_2_am() -> None:
    intervals = day_intervals(date(2026, 3, 29), PARIS, 60)
    assert len(intervals) == 23
    labels = [iv.local_start.strftime("%H:%M") for iv in intervals]
    assert labels[:4] == ["00:00", "01:00", "03:00", "04:00"]
    assert len(day_intervals(date(2026, 3, 29), PARIS, 15)) == 92


def test_fall_back_day_has_25_hours_and_2_am_twice() -> None:
    intervals = day_intervals(date(2026, 10, 25), PARIS, 60)
    assert len(intervals) == 25
    twice = [iv for iv in intervals if iv.local_start.hour == 2]
    assert [iv.slot for iv in twice] == [WallSlot(2, 0), WallSlot(2, 1)]
    assert [iv.local_start.utcoffset() for iv in twice] == [
        datetime(2026, 10, 25, 0, tzinfo=UTC) - datetime(2026, 10, 24, 22, tzinfo=UTC),
        datetime(2026, 10, 25, 1, tzinfo=UTC) - datetime(2026, 10, 25, 0, tzinfo=UTC),
    ]
    assert len(day_intervals(date(2026, 10, 25), PARIS, 30)) == 50


def test_wall_slot_follows_the_local_clock() -> None:
    # 07:40 UTC is 08:40 in Paris in November (UTC+1) and 09:40 in June (UTC+2).
    assert wall_slot(datetime(2026, 11, 23, 7, 40, tzinfo=UTC), PARIS, 30) == WallSlot(17, 0)
    assert wall_slot(datetime(2026, 6, 22, 7, 40, tzinfo=UTC), PARIS, 30) == WallSlot(19, 0)


def test_interval_size_must_be_15_30_or_60() -> None:
    with pytest.raises(ValueError, match="interval 20"):
        day_intervals(date(2026, 11, 23), UTC, 20)


def test_history_is_the_same_weekday_of_complete_past_weeks() -> None:
    friday = date(2026, 11, 20)
    # Next Monday: the Mondays before it.
    assert history_days(date(2026, 11, 23), friday, 3) == (
        date(2026, 11, 16),
        date(2026, 11, 9),
        date(2026, 11, 2),
    )
    # Today itself is not complete: last week's Friday and before.
    assert history_days(friday, friday, 2) == (date(2026, 11, 13), date(2026, 11, 6))
    # Ten days ahead: the newest Monday already over, not the coming one.
    assert history_days(date(2026, 11, 30), friday, 1) == (date(2026, 11, 16),)
    # A past day (back-testing): the weeks before it.
    assert history_days(date(2026, 10, 5), friday, 1) == (date(2026, 9, 28),)


def test_trend_weeks_end_on_the_latest_complete_day() -> None:
    friday = date(2026, 11, 20)
    # Next Monday: the weeks ending yesterday (Thursday).
    assert trend_weeks(date(2026, 11, 23), friday, 2) == (
        (date(2026, 11, 13), date(2026, 11, 19)),
        (date(2026, 11, 6), date(2026, 11, 12)),
    )
    # A past day: the week ending the day before it.
    assert trend_weeks(date(2026, 10, 5), friday, 1) == ((date(2026, 9, 28), date(2026, 10, 4)),)
