"""The staffed day as a planner reads it: the table's labels (a fall-back day's repeated
hour), the occupancy mark, the total line and the CSV (ccd.forecast.report)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ccd.forecast.history import BucketCount, DayHistory
from ccd.forecast.report import csv_rows, staff_day, summary_lines, table_lines
from ccd.forecast.staffing import StaffingTarget
from ccd.forecast.volume import forecast_day

PARIS = ZoneInfo("Europe/Paris")
FALL_BACK = date(2026, 10, 25)
TARGET = StaffingTarget(service_level=0.8, threshold_s=20, max_occupancy=0.85)


def staffed_fall_back_day() -> list[str]:
    week_before = FALL_BACK - timedelta(weeks=1)
    two_am = datetime(2026, 10, 18, 0, 0, tzinfo=UTC)  # 02:00 in Paris (summer time)
    ten_am = datetime(2026, 10, 18, 8, 0, tzinfo=UTC)  # 10:00: 1000 calls at 180 s
    history = [
        DayHistory(
            week_before,
            (BucketCount(two_am, 4, 4, 4 * 180.0), BucketCount(ten_am, 1000, 1000, 180000.0)),
        )
    ]
    day = forecast_day(FALL_BACK, history, PARIS, 60)
    return table_lines(staff_day("sales", "Europe/Paris", 60, day, TARGET))


def test_the_repeated_hour_is_labelled_with_its_offset() -> None:
    lines = staffed_fall_back_day()
    assert len(lines[1:-2]) == 25
    # 02:00 summer time to 02:00 winter time, then 02:00 to 03:00 winter time.
    assert [" ".join(line.split()[:2]) for line in lines[3:5]] == [
        "02:00-02:00 (+0200)",
        "02:00-03:00 (+0100)",
    ]
    assert [line.split()[2] for line in lines[3:5]] == ["4.0", "4.0"]


def test_an_interval_set_by_the_occupancy_cap_is_marked() -> None:
    lines = staffed_fall_back_day()
    ten = next(line for line in lines if line.startswith("10:00-11:00"))
    # 1000 calls x 180 s in an hour: 50 Erlangs; ceil(50 / 0.85) = 59 > Erlang C's answer.
    # Agent-hours: 59 + 1 for each 02:00 (4 calls: 0.2 Erlangs).
    assert ten.split()[1:5] == ["1000.0", "180", "50.00", "59*"]
    assert lines[-1].split() == ["TOTAL", "1008.0", "180", "61.0", "h", "61.0", "h", "peak", "59"]


def test_csv_has_one_row_per_interval_with_blank_figures_for_quiet_ones() -> None:
    week_before = FALL_BACK - timedelta(weeks=1)
    history = [
        DayHistory(
            week_before, (BucketCount(datetime(2026, 10, 18, 8, tzinfo=UTC), 10, 10, 1800.0),)
        )
    ]
    report = staff_day(
        "sales", "Europe/Paris", 30, forecast_day(FALL_BACK, history, PARIS, 30), TARGET
    )
    rows = csv_rows(report)
    assert rows[0][:3] == ["interval_start", "interval_end", "volume"]
    assert len(rows) == 1 + 50
    quiet = rows[1]
    assert quiet[0] == "2026-10-24T22:00:00+00:00"
    assert quiet[-3:] == ["", "", ""]
    assert summary_lines(report)[2].startswith("history: 1 Sundays from 2026-10-18 to 2026-10-18")
