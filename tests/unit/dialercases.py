"""Building blocks for the dialer's unit tests: a campaign that may run, contacts by time
zone, and instants written in UTC (test_dialer_model, test_dialer_retries and
test_dialer_windows import these)."""

from __future__ import annotations

from datetime import UTC, datetime

from ccd.dialer.model import Campaign, Contact, DialMode

# Fit to run: the default window (8:00-21:00 every day) and DEFAULT_RETRIES.
CAMPAIGN = Campaign(
    id="spring",
    name="Spring offer",
    mode=DialMode.PROGRESSIVE,
    caller_id="+15550100",
    agent_ids=frozenset({"1001"}),
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def contact(*zones: str) -> Contact:
    return Contact(id="c1", campaign_id="spring", number="+12125550123", time_zones=zones)


NEW_YORK = contact("America/New_York")  # a +1 212 number
