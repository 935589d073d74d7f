"""Where the wallboard's "today" starts: the host's local midnight, with the offset in force
at midnight (not the one in force now: they differ on a daylight-saving change day)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ccd.api.wallboard import local_midnight


@pytest.fixture
def host_zone() -> Iterator[None]:
    """The host's local time zone is Europe/Berlin for the test."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


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
