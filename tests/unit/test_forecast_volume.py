"""Volume and AHT per interval from hand-computed series (ccd.forecast.volume)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ccd.forecast.history import BucketCount, DayHistory, WeekTotal
from ccd.forecast.volume import forecast_day, recency_weights

MONDAY = date(2026, 11, 23)
PARIS = ZoneInfo("Europe/Paris")


def at(day: date, hh: int, mm: int = 0, zone: ZoneInfo | None = None) -> datetime:
    local = datetime.combine(day, time(hh, mm), tzinfo=zone or UTC)
    return local.astimezone(UTC)


def bucket(start: datetime, offered: int, answered: int = 0, handle_s: float = 0.0) -> BucketCount:
    return BucketCount(start, offered, answered, handle_s)


def weeks_before(target: date, k: int) -> date:
    return target - timedelta(weeks=k)


def volumes(forecast_intervals: object) -> dict[str, float]:
    return {
        f.interval.local_start.strftime("%H:%M"): f.volume
        for f in forecast_intervals  # type: ignore[attr-defined]
        if f.volume
    }


def test_recency_weights_are_linear_and_average_one() -> None:
    assert recency_weights(3) == pytest.approx((1.5, 1.0, 0.5))
    assert recency_weights(1) == (1.0,)


def flat_mondays(calls: int = 10) -> list[DayHistory]:
    return [
        DayHistory(weeks_before(MONDAY, k), (bucket(at(weeks_before(MONDAY, k), 9), calls),))
        for k in (1, 2, 3)
    ]


def weeks_ending_sunday(*totals: int, open_days: tuple[int, ...] = ()) -> list[WeekTotal]:
    """Seven-day windows Monday..Sunday before MONDAY, most recent first (open every day
    unless ``open_days`` says otherwise)."""
    days = open_days or (7,) * len(totals)
    return [
        WeekTotal(
            weeks_before(MONDAY, k + 1), weeks_before(MONDAY, k) - timedelta(days=1), n, open_
        )
        for k, (n, open_) in enumerate(zip(totals, days, strict=True))
    ]


def test_the_weekly_trend_scales_the_weekday_to_the_target_day() -> None:
    # Weekly totals 63, 70, 77 (oldest first), middles at -18/7, -11/7, -4/7 weeks: the line
    # W(x) = 81 + 7x. The Mondays (10 calls each, weights 1.5, 1, 0.5) are centred at
    # x_d = -5/3, where W = 81 - 35/3; the target is at x = 0: f = 81 / (81 - 35/3).
    result = forecast_day(MONDAY, flat_mondays(), UTC, 60, weeks_ending_sunday(77, 70, 63))
    factor = 81 / (81 - 35 / 3)
    assert result.mean_day_volume == pytest.approx(10.0)
    assert result.level_factor == pytest.approx(factor)
    assert result.trend_pct_per_week == pytest.approx(100 * 7 / (217 / 3))  # b / W̄
    assert result.day_volume == pytest.approx(10 * factor)
    assert volumes(result.intervals) == {"09:00": pytest.approx(10 * factor)}
    assert len(result.intervals) == 24


def test_no_trend_from_fewer_than_three_full_weeks() -> None:
    # The oldest week is the queue's first (open 3 days of 7): two full weeks, no line.
    weeks = weeks_ending_sunday(77, 70, 30, open_days=(7, 7, 3))
    result = forecast_day(MONDAY, flat_mondays(), UTC, 60, weeks)
    assert [w.offered for w in result.weeks_used] == [77, 70]
    assert (result.level_factor, result.trend_pct_per_week) == (1.0, 0.0)
    assert result.day_volume == pytest.approx(10.0)


def test_a_week_with_a_holiday_or_not_yet_recorded_days_stays_out_of_the_trend() -> None:
    # The newest week has one day recorded so far: the line runs through the full ones.
    weeks = weeks_ending_sunday(11, 77, 70, 63, open_days=(1, 7, 7, 7))
    result = forecast_day(MONDAY, flat_mondays(), UTC, 60, weeks)
    assert [w.offered for w in result.weeks_used] == [77, 70, 63]
    assert result.trend_pct_per_week > 0


def test_a_falling_trend_never_forecasts_negative_calls() -> None:
    result = forecast_day(MONDAY, flat_mondays(), UTC, 60, weeks_ending_sunday(7, 70, 140))
    assert result.trend_pct_per_week < 0
    assert result.level_factor == 0.0
    assert volumes(result.intervals) == {}


def test_two_days_give_the_weighted_shape_without_a_trend() -> None:
    d1, d2 = weeks_before(MONDAY, 1), weeks_before(MONDAY, 2)
    history = [
        DayHistory(d1, (bucket(at(d1, 9), 4), bucket(at(d1, 9, 15), 2), bucket(at(d1, 10), 2))),
        DayHistory(d2, (bucket(at(d2, 9, 45), 3), bucket(at(d2, 10, 30), 1))),
    ]
    result = forecast_day(MONDAY, history, UTC, 60)
    # Weights 4/3 and 2/3: 09:00 (4/3·6 + 2/3·3) / 2 = 5; 10:00 (4/3·2 + 2/3·1) / 2 = 5/3.
    assert result.level_factor == 1.0
    assert result.day_volume == pytest.approx(20 / 3)
    assert volumes(result.intervals) == {"09:00": pytest.approx(5.0), "10:00": pytest.approx(5 / 3)}
    # Half-hours split the same buckets differently.
    half = forecast_day(MONDAY, history, UTC, 30)
    assert volumes(half.intervals) == {
        "09:00": pytest.approx(4.0),  # 4/3·6 / 2
        "09:30": pytest.approx(1.0),  # 2/3·3 / 2
        "10:00": pytest.approx(4 / 3),
        "10:30": pytest.approx(1 / 3),
    }


def test_aht_is_pulled_toward_the_day_average_in_thin_intervals() -> None:
    d1, d2 = weeks_before(MONDAY, 1), weeks_before(MONDAY, 2)
    history = [
        DayHistory(d1, (bucket(at(d1, 9), 5, 4, 1200.0), bucket(at(d1, 10), 1, 1, 60.0))),
        DayHistory(d2, (bucket(at(d2, 9), 2, 2, 300.0), bucket(at(d2, 10), 1, 0, 0.0))),
    ]
    result = forecast_day(MONDAY, history, UTC, 60)
    # Weighted (4/3, 2/3): 09:00 N = 20/3, H = 1800; 10:00 N = 4/3, H = 80; day 1880 / 8.
    assert result.day_aht_s == pytest.approx(235.0)
    aht = {f.interval.local_start.hour: f.aht_s for f in result.intervals}
    assert aht[9] == pytest.approx((1800 + 10 * 235) / (20 / 3 + 10))  # 249
    assert aht[10] == pytest.approx((80 + 10 * 235) / (4 / 3 + 10))
    assert aht[3] == 0.0  # no calls in its history: nothing to handle


def test_a_day_without_a_single_call_is_left_out() -> None:
    d1, d2, d3 = (weeks_before(MONDAY, k) for k in (1, 2, 3))
    new_queue = [
        DayHistory(d1, (bucket(at(d1, 9), 6),)),
        DayHistory(d2, ()),
        DayHistory(d3, ()),
    ]
    result = forecast_day(MONDAY, new_queue, UTC, 60)
    assert [d.day for d in result.days_used] == [d1]
    assert volumes(result.intervals) == {"09:00": pytest.approx(6.0)}

    holiday_in_between = [
        DayHistory(d1, (bucket(at(d1, 9), 6),)),
        DayHistory(d2, ()),
        DayHistory(d3, (bucket(at(d3, 9), 3),)),
    ]
    result = forecast_day(MONDAY, holiday_in_between, UTC, 60)
    assert [d.day for d in result.days_used] == [d1, d3]
    assert [d.weight for d in result.days_used] == pytest.approx([4 / 3, 2 / 3])
    # (4/3 · 6 + 2/3 · 3) / 2 = 5.
    assert volumes(result.intervals) == {"09:00": pytest.approx(5.0)}


def test_no_history_forecasts_zero_everywhere() -> None:
    result = forecast_day(MONDAY, [DayHistory(weeks_before(MONDAY, 1), ())], UTC, 15)
    assert len(result.intervals) == 96
    assert all(f.volume == 0 and f.aht_s == 0 for f in result.intervals)
    assert result.days_used == ()


def test_fall_back_day_forecasts_the_repeated_hour_from_that_hours_history() -> None:
    target = date(2026, 10, 25)  # Paris leaves summer time at 03:00 -> 02:00
    history = [
        DayHistory(
            weeks_before(target, k),
            (
                bucket(at(weeks_before(target, k), 2, zone=PARIS), 4),
                bucket(at(weeks_before(target, k), 9, zone=PARIS), 10),
            ),
        )
        for k in (1, 2)
    ]
    result = forecast_day(target, history, PARIS, 60)
    assert len(result.intervals) == 25
    busy = [f for f in result.intervals if f.volume]
    assert [f.interval.local_start.strftime("%H:%M%z") for f in busy] == [
        "02:00+0200",
        "02:00+0100",
        "09:00+0100",
    ]
    assert [f.volume for f in busy] == pytest.approx([4.0, 4.0, 10.0])


def test_spring_forward_day_has_no_2_am_and_keeps_the_wall_clock() -> None:
    target = date(2026, 3, 29)  # Paris: 02:00 -> 03:00
    history = [
        DayHistory(
            weeks_before(target, k),
            (
                bucket(at(weeks_before(target, k), 2, zone=PARIS), 4),
                bucket(at(weeks_before(target, k), 9, zone=PARIS), 10),
            ),
        )
        for k in (1, 2)
    ]
    result = forecast_day(target, history, PARIS, 60)
    assert len(result.intervals) == 23
    # 09:00 on the clock is 07:00 UTC on the target day (summer time), 08:00 UTC before.
    assert volumes(result.intervals) == {"09:00": pytest.approx(10.0)}
    nine = next(f for f in result.intervals if f.volume)
    assert nine.interval.start == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
