"""Calling windows in the callee's local time: hand-computed instants (written in UTC, with
the local wall time they are in a comment) a user would check."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time

import pytest

from ccd.dialer.model import CallingWindow, Weekday
from ccd.dialer.windows import (
    SEARCH_HORIZON_S,
    ClosedReason,
    may_call,
    next_open,
    why_closed,
)
from tests.unit.dialercases import CAMPAIGN, NEW_YORK, contact, utc


def test_a_new_york_number_at_2059_may_be_called_at_2100_may_not() -> None:
    # Wed 12 June 2024, EDT (UTC-4).
    assert may_call(NEW_YORK, CAMPAIGN, utc(2024, 6, 13, 0, 59))  # 20:59
    assert may_call(NEW_YORK, CAMPAIGN, utc(2024, 6, 13, 0, 59, 59))  # 20:59:59
    closed = why_closed(NEW_YORK, CAMPAIGN, utc(2024, 6, 13, 1, 0))  # 21:00: end excluded
    assert closed is not None
    assert closed.reason is ClosedReason.OUTSIDE_WINDOW
    assert closed.zone == "America/New_York"
    assert str(closed) == "America/New_York: Wed 2024-06-12 21:00 is outside the calling windows"


def test_start_is_inclusive() -> None:
    assert not may_call(NEW_YORK, CAMPAIGN, utc(2024, 6, 12, 11, 59, 59))  # 7:59:59 EDT
    assert may_call(NEW_YORK, CAMPAIGN, utc(2024, 6, 12, 12, 0))  # 8:00 EDT


def test_the_window_is_the_callees_not_ours() -> None:
    los_angeles = contact("America/Los_Angeles")
    at = utc(2024, 6, 12, 13, 0)  # 9:00 in New York, 6:00 in Los Angeles (PDT, UTC-7)
    assert may_call(NEW_YORK, CAMPAIGN, at)
    assert not may_call(los_angeles, CAMPAIGN, at)
    assert next_open(los_angeles, CAMPAIGN, at) == utc(2024, 6, 12, 15, 0)  # 8:00 PDT


def test_a_number_in_two_zones_is_called_only_when_both_are_open() -> None:
    both = contact("America/New_York", "America/Chicago")
    at = utc(2024, 6, 12, 12, 30)  # 8:30 in New York, 7:30 in Chicago (CDT, UTC-5)
    closed = why_closed(both, CAMPAIGN, at)
    assert closed is not None
    assert (closed.reason, closed.zone) == (ClosedReason.OUTSIDE_WINDOW, "America/Chicago")
    assert "07:30" in str(closed)
    # 8:00 in Chicago is 9:00 in New York.
    assert next_open(both, CAMPAIGN, at) == utc(2024, 6, 12, 13, 0)
    # The evening closes on New York's clock: 20:59 there is 19:59 in Chicago.
    assert may_call(both, CAMPAIGN, utc(2024, 6, 13, 0, 59))
    assert not may_call(both, CAMPAIGN, utc(2024, 6, 13, 1, 0))  # 21:00 New York


def test_zones_whose_windows_never_overlap_never_open() -> None:
    early = replace(CAMPAIGN, windows=(CallingWindow(frozenset(Weekday), time(8), time(9)),))
    # 8-9 New York is 12-13 UTC (EDT); 8-9 Tokyo is 23-24 UTC.
    apart = contact("America/New_York", "Asia/Tokyo")
    assert next_open(apart, early, utc(2024, 6, 12, 0, 0)) is None


def test_christmas_is_a_holiday_on_the_callees_calendar() -> None:
    christmas = replace(CAMPAIGN, holidays=frozenset({date(2024, 12, 25)}))
    noon = utc(2024, 12, 25, 17, 0)  # 12:00 EST
    closed = why_closed(NEW_YORK, christmas, noon)
    assert closed is not None
    assert closed.reason is ClosedReason.HOLIDAY
    assert str(closed) == "America/New_York: Wed 2024-12-25 12:00 is a campaign holiday"
    assert may_call(NEW_YORK, CAMPAIGN, noon)  # without the holiday
    assert next_open(NEW_YORK, christmas, noon) == utc(2024, 12, 26, 13, 0)  # 26th, 8:00 EST

    tokyo, los_angeles = contact("Asia/Tokyo"), contact("America/Los_Angeles")
    # 23:30 UTC on the 25th: 8:30 on the 26th in Tokyo, 15:30 on the 25th in Los Angeles.
    assert may_call(tokyo, christmas, utc(2024, 12, 25, 23, 30))
    assert not may_call(los_angeles, christmas, utc(2024, 12, 25, 23, 30))
    # A day earlier: Christmas morning in Tokyo, Christmas Eve afternoon in Los Angeles.
    assert not may_call(tokyo, christmas, utc(2024, 12, 24, 23, 30))
    assert may_call(los_angeles, christmas, utc(2024, 12, 24, 23, 30))


def test_weekday_windows_skip_the_weekend() -> None:
    office = replace(
        CAMPAIGN,
        windows=(
            CallingWindow(frozenset(Weekday) - {Weekday.SAT, Weekday.SUN}, time(9), time(17)),
            CallingWindow(frozenset({Weekday.SAT}), time(10), time(14)),
        ),
    )
    friday_5pm = utc(2024, 6, 14, 21, 0)  # Fri 17:00 EDT: closed
    assert not may_call(NEW_YORK, office, friday_5pm)
    assert next_open(NEW_YORK, office, friday_5pm) == utc(2024, 6, 15, 14, 0)  # Sat 10:00
    saturday_2pm = utc(2024, 6, 15, 18, 0)
    assert next_open(NEW_YORK, office, saturday_2pm) == utc(2024, 6, 17, 13, 0)  # Mon 9:00


def test_a_lunch_break_between_two_windows() -> None:
    split = replace(
        CAMPAIGN,
        windows=(
            CallingWindow(frozenset(Weekday), time(8), time(12)),
            CallingWindow(frozenset(Weekday), time(13), time(21)),
        ),
    )
    assert not may_call(NEW_YORK, split, utc(2024, 6, 12, 16, 30))  # 12:30 EDT
    assert next_open(NEW_YORK, split, utc(2024, 6, 12, 16, 30)) == utc(2024, 6, 12, 17, 0)


def test_next_open_is_after_itself_when_already_open() -> None:
    at = utc(2024, 6, 12, 15, 0) + 0.25  # 11:00:00.25 EDT
    assert next_open(NEW_YORK, CAMPAIGN, at) == at


def test_spring_forward_day() -> None:
    # Sun 10 March 2024, New York: 2:00 EST (UTC-5) jumps to 3:00 EDT (UTC-4) at 07:00 UTC.
    assert not may_call(NEW_YORK, CAMPAIGN, utc(2024, 3, 10, 11, 59))  # 7:59 EDT
    assert may_call(NEW_YORK, CAMPAIGN, utc(2024, 3, 10, 12, 0))  # 8:00 EDT (not 7:00 EST)
    assert next_open(NEW_YORK, CAMPAIGN, utc(2024, 3, 10, 5, 0)) == utc(2024, 3, 10, 12, 0)
    assert may_call(NEW_YORK, CAMPAIGN, utc(2024, 3, 11, 0, 59))  # 20:59 EDT
    assert not may_call(NEW_YORK, CAMPAIGN, utc(2024, 3, 11, 1, 0))  # 21:00 EDT
    # A window starting inside the skipped hour opens when the clock jumps over it.
    night = replace(
        CAMPAIGN, windows=(CallingWindow(frozenset({Weekday.SUN}), time(2, 30), time(4)),)
    )
    assert next_open(NEW_YORK, night, utc(2024, 3, 10, 5, 0)) == utc(2024, 3, 10, 7, 0)
    assert not may_call(NEW_YORK, night, utc(2024, 3, 10, 6, 59, 59))  # 1:59:59 EST
    assert not may_call(NEW_YORK, night, utc(2024, 3, 10, 8, 0))  # 4:00 EDT


def test_fall_back_day() -> None:
    # Sun 3 November 2024, New York: 2:00 EDT (UTC-4) falls back to 1:00 EST at 06:00 UTC.
    assert not may_call(NEW_YORK, CAMPAIGN, utc(2024, 11, 3, 12, 59))  # 7:59 EST
    assert may_call(NEW_YORK, CAMPAIGN, utc(2024, 11, 3, 13, 0))  # 8:00 EST (not 9:00 EDT)
    assert next_open(NEW_YORK, CAMPAIGN, utc(2024, 11, 3, 4, 0)) == utc(2024, 11, 3, 13, 0)
    assert may_call(NEW_YORK, CAMPAIGN, utc(2024, 11, 4, 1, 59))  # 20:59 EST
    assert not may_call(NEW_YORK, CAMPAIGN, utc(2024, 11, 4, 2, 0))  # 21:00 EST
    # 1:00-1:30 happens twice that night: 05:00-05:30 UTC (EDT), then 06:00-06:30 UTC (EST).
    night = replace(
        CAMPAIGN, windows=(CallingWindow(frozenset({Weekday.SUN}), time(1), time(1, 30)),)
    )
    assert may_call(NEW_YORK, night, utc(2024, 11, 3, 5, 10))
    assert not may_call(NEW_YORK, night, utc(2024, 11, 3, 5, 45))  # 1:45 EDT
    assert next_open(NEW_YORK, night, utc(2024, 11, 3, 5, 30)) == utc(2024, 11, 3, 6, 0)
    assert may_call(NEW_YORK, night, utc(2024, 11, 3, 6, 29))  # 1:29 EST


def test_zones_on_different_dst_dates() -> None:
    # 31 March 2024: Europe is on summer time (London UTC+1) since 01:00 UTC; New York
    # changed on the 10th (UTC-4). 12:30 UTC: 13:30 London, 8:30 New York: both open.
    both = contact("Europe/London", "America/New_York")
    assert may_call(both, CAMPAIGN, utc(2024, 3, 31, 12, 30))
    # 20:00 UTC is 21:00 in London: closed there, whatever New York's 16:00 says.
    assert not may_call(both, CAMPAIGN, utc(2024, 3, 31, 20, 0))
    assert next_open(both, CAMPAIGN, utc(2024, 3, 31, 20, 0)) == utc(2024, 4, 1, 12, 0)


@pytest.mark.parametrize(
    ("zones", "reason"),
    [
        ((), ClosedReason.NO_TIME_ZONE),
        (("Etc/Unknown",), ClosedReason.UNKNOWN_TIME_ZONE),
        (("Mars/Olympus_Mons",), ClosedReason.UNKNOWN_TIME_ZONE),
        (("america/new_york",), ClosedReason.UNKNOWN_TIME_ZONE),
        (("America",), ClosedReason.UNKNOWN_TIME_ZONE),
        (("../../etc/passwd",), ClosedReason.UNKNOWN_TIME_ZONE),
        (("",), ClosedReason.UNKNOWN_TIME_ZONE),
        (("America/New_York", "Etc/Unknown"), ClosedReason.UNKNOWN_TIME_ZONE),
    ],
)
def test_a_contact_without_a_usable_zone_is_never_called(
    zones: tuple[str, ...], reason: ClosedReason
) -> None:
    who = contact(*zones)
    at = utc(2024, 6, 12, 16, 0)  # noon in New York
    closed = why_closed(who, CAMPAIGN, at)
    assert closed is not None
    assert closed.reason is reason
    assert "cannot be checked" in str(closed)
    assert next_open(who, CAMPAIGN, at) is None


def test_the_search_is_bounded() -> None:
    # Two weeks of holidays in New York: nothing within the 14-day horizon, then the 15th.
    off = replace(CAMPAIGN, holidays=frozenset(date(2024, 7, day) for day in range(1, 15)))
    at = utc(2024, 7, 1, 4, 0)  # midnight, 1 July, EDT
    assert next_open(NEW_YORK, off, at) is None
    assert next_open(NEW_YORK, off, at, horizon_s=SEARCH_HORIZON_S + 86400) == utc(
        2024, 7, 15, 12, 0
    )


def test_no_window_no_call() -> None:
    assert next_open(NEW_YORK, replace(CAMPAIGN, windows=()), utc(2024, 6, 12, 16, 0)) is None
