"""Where the wallboard's "today" starts: the host's local midnight, with the offset in force
at midnight (not the one in force now: they differ on a daylight-saving change day)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ccd.api.wallboard import local_day, local_hour_marks, local_midnight
from tests.hostzone import host_time_zone


@pytest.fixture
def host_zone() -> Iterator[None]:
    """The host's local time zone is Europe/Berlin for the test."""
    with host_time_zone("Europe/Berlin"):
        yield


@pytest.mark.usefixtures("host_zone")
@pytest.mark.parametrize(
    ("now", "midnight"),
    [
        # An ordinary winter day: midnight 00:00 +01:00.
        (datetime(2026, 11, 25, 9, 30, tzinfo=UTC), datetime(2026, 11, 24, 23, 0, tzinfo=UTC)),
        # Spring forward (29 March 2026, 02:00 -> 03:00): at noon (+02:00) the day began at
        # 00:00 +01:00, 23:00 UTC the day before, not 22:00 UTC.
        (datetime(2026, 3, 29, 10, 0, tzinfo=UTC), datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),
        # Fall back (25 October 2026, 03:00 -> 02:00): at noon (+01:00) the day began at
        # 00:00 +02:00, 22:00 UTC the day before.
        (datetime(2026, 10, 25, 11, 0, tzinfo=UTC), datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),
    ],
)
def test_the_day_starts_at_local_midnight_with_midnights_offset(
    now: datetime, midnight: datetime
) -> None:
    start = local_midnight(now)
    assert start == midnight
    assert (start.hour, start.minute) == (0, 0)  # shown on the host's wall clock
    assert start.utcoffset() == midnight.astimezone().utcoffset()


@pytest.mark.usefixtures("host_zone")
@pytest.mark.parametrize(
    ("now", "hours", "label_offsets_h"),
    [
        # Ordinary day: a label every 3 hours of real time.
        (datetime(2026, 11, 25, 9, 30, tzinfo=UTC), 24, [0, 3, 6, 9, 12, 15, 18, 21, 24]),
        # Spring forward: 03h is 2 hours after midnight, and every label after it an hour early.
        (datetime(2026, 3, 29, 10, 0, tzinfo=UTC), 23, [0, 2, 5, 8, 11, 14, 17, 20, 23]),
        # Fall back: 03h is 4 hours after midnight; the day ends at 25 h.
        (datetime(2026, 10, 25, 11, 0, tzinfo=UTC), 25, [0, 4, 7, 10, 13, 16, 19, 22, 25]),
    ],
)
def test_the_day_runs_to_the_next_local_midnight_with_labels_at_their_instants(
    now: datetime, hours: int, label_offsets_h: list[int]
) -> None:
    start, end = local_day(now)
    assert end - start == timedelta(hours=hours)
    assert (end.hour, end.minute, end.date()) == (0, 0, start.date() + timedelta(days=1))
    marks = local_hour_marks(start, end)
    assert [label for _, label in marks] == [
        "00h",
        "03h",
        "06h",
        "09h",
        "12h",
        "15h",
        "18h",
        "21h",
        "24h",
    ]
    assert [(at - start) / timedelta(hours=1) for at, _ in marks] == label_offsets_h
